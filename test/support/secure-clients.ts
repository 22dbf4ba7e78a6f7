import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { type ChannelCredentials } from '@grpc/grpc-js';
import { expect } from 'chai';
import pino, { type Logger } from 'pino';
import { PredictionServiceClient, type PredictResponse } from '../../generated/inferd/v1/prediction_service';
import { tensor } from './test-server';

/** A Predict request for the `simple` model: INPUT0 = 0..15, INPUT1 = 1s. */
export const SIMPLE_REQUEST = {
  modelName: 'simple',
  inputs: {
    INPUT0: tensor({ shape: [1n, 16n], int32Data: Array.from({ length: 16 }, (_, i) => i) }),
    INPUT1: tensor({ shape: [1n, 16n], int32Data: Array.from({ length: 16 }, () => 1) }),
  },
};

/** Checks the `simple` model's exact answer to SIMPLE_REQUEST. */
export function expectSimpleAnswer(r: PredictResponse): void {
  expect(r.outputs['OUTPUT0']!.int32Data).to.deep.equal(Array.from({ length: 16 }, (_, i) => i + 1));
  expect(r.outputs['OUTPUT1']!.int32Data).to.deep.equal(Array.from({ length: 16 }, (_, i) => i - 1));
}

/** Channel options for TLS to 127.0.0.1 with a certificate for "localhost" (an IP is not a valid TLS server name). */
export const LOCALHOST_NAME = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };

export function predictionClient(address: string, creds: ChannelCredentials): PredictionServiceClient {
  return new PredictionServiceClient(address, creds, LOCALHOST_NAME);
}

/** A folder of its own for key files; the caller removes it. */
export function writeFiles(files: Record<string, string>): { dir: string; file: (name: string) => string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferd-tls-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return { dir, file: (name) => path.join(dir, name) };
}

/** A logger at debug level whose every line is kept in `lines`. */
export function capturedLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { log, lines };
}

/** The certificate a new TLS connection to 127.0.0.1:`port` is served (verified against `ca`). */
export function servedCertificate(port: number, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', servername: 'localhost', port, ca, ALPNProtocols: ['h2', 'http/1.1'] },
      () => {
        const cert = socket.getPeerCertificate();
        socket.destroy();
        resolve(cert);
      },
    );
    socket.on('error', reject);
  });
}
