import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import pino from 'pino';
import { ERROR_CODES, InferdError } from '../../src/inferd-error';
import { STATUS_FOR, statusFor } from '../../src/transport/grpc/status-for';

describe('statusFor', () => {
  it('maps every InferdError code to the gRPC status of the same name', () => {
    expect(Object.keys(STATUS_FOR).sort()).to.deep.equal([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) expect(STATUS_FOR[code]).to.equal(status[code]);
  });

  it("passes an InferdError's message through to the client", () => {
    expect(statusFor(new InferdError('NOT_FOUND', 'unknown model "m"'), pino({ level: 'silent' }))).to.deep.equal({ code: status.NOT_FOUND, details: 'unknown model "m"' });
  });

  it('hides any other error behind INTERNAL and logs it whole', () => {
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    expect(statusFor(new TypeError('secret internals'), log)).to.deep.equal({ code: status.INTERNAL, details: 'internal error' });
    expect(lines.join('')).to.contain('secret internals');
  });
});
