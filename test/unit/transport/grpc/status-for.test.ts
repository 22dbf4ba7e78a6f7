import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import pino from 'pino';
import { ERROR_CODES, InferdError } from '../../../../src/inferd-error';
import {
  MAX_STATUS_DETAILS_BYTES,
  STATUS_FOR,
  statusDetails,
  statusFor,
} from '../../../../src/transport/grpc/status-for';

describe('statusFor', () => {
  it('maps every InferdError code to the gRPC status of the same name', () => {
    expect(Object.keys(STATUS_FOR).sort()).to.deep.equal([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) expect(STATUS_FOR[code]).to.equal(status[code]);
  });

  it("passes an InferdError's message through to the client", () => {
    expect(statusFor(new InferdError('NOT_FOUND', 'unknown model "m"'), pino({ level: 'silent' }))).to.deep.equal({
      code: status.NOT_FOUND,
      details: 'unknown model "m"',
    });
  });

  it('cuts a message past MAX_STATUS_DETAILS_BYTES of UTF-8 with an ellipsis, between characters', () => {
    const silent = pino({ level: 'silent' });
    const ascii = statusFor(new InferdError('NOT_FOUND', `unknown model "${'m'.repeat(100_000)}"`), silent).details;
    expect(ascii).to.equal(`unknown model "${'m'.repeat(MAX_STATUS_DETAILS_BYTES - 3 - 'unknown model "'.length)}…`);
    expect(Buffer.byteLength(ascii)).to.equal(MAX_STATUS_DETAILS_BYTES);
    // Two bytes each: 1,022 fit before the ellipsis's three.
    expect(statusDetails('é'.repeat(5_000))).to.equal(`${'é'.repeat(1_022)}…`);
    // Four bytes (two UTF-16 units) each: 511 fit, and no pair is split.
    expect(statusDetails('😀'.repeat(5_000))).to.equal(`${'😀'.repeat(511)}…`);
  });

  it('passes a message of exactly MAX_STATUS_DETAILS_BYTES whole', () => {
    const message = 'x'.repeat(MAX_STATUS_DETAILS_BYTES - 2) + 'é';
    expect(statusDetails(message)).to.equal(message);
  });

  it('replaces lone surrogates, which grpc-js cannot percent-encode into grpc-message', () => {
    const details = statusFor(
      new InferdError('INVALID_ARGUMENT', 'input "a\uD800b\uDC00": unknown'),
      pino({ level: 'silent' }),
    ).details;
    expect(details).to.equal('input "a\uFFFDb\uFFFD": unknown');
    expect(decodeURI(encodeURI(details))).to.equal(details);
  });

  it('hides any other error behind INTERNAL and logs it whole', () => {
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    expect(statusFor(new TypeError('secret internals'), log)).to.deep.equal({
      code: status.INTERNAL,
      details: 'internal error',
    });
    expect(lines.join('')).to.contain('secret internals');
  });
});
