import { expect } from 'chai';
import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import pino from 'pino';
import { HealthClient, HealthService, type HealthServer } from '../../../../generated/grpc/health/v1/health';
import { applyConnectionPolicy } from '../../../../src/transport/grpc/connection-policy';

/** Status metadata Node refuses to send: HTTP/1 connection headers are forbidden in HTTP/2. */
function unsendable(): Metadata {
  const metadata = new Metadata();
  metadata.set('connection', 'close');
  return metadata;
}

const DEADLINE_MS = 10_000;

describe('applyConnectionPolicy: a response Node refuses to send', () => {
  let server: Server;
  let client: HealthClient;
  const lines: string[] = [];

  before(async () => {
    server = new Server();
    const handlers: HealthServer = {
      // Answered later, as inferd's handlers answer (from a promise): a throw has no handler to fall back on.
      check: (_call, callback) =>
        void Promise.resolve().then(() =>
          callback({ code: status.NOT_FOUND, details: 'no such service', metadata: unsendable() }),
        ),
      list: (_call, callback) => callback(null, { statuses: {} }),
      watch: (call) => {
        call.write({ status: 1 });
        call.emit('error', { code: status.NOT_FOUND, details: 'gone', metadata: unsendable() });
      },
    };
    server.addService(HealthService, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const log = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    applyConnectionPolicy(server, { http2WindowBytes: 65_535, minPingIntervalMs: 0, handshakeTimeoutMs: 10_000, log });
    client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  after(() => {
    client?.close();
    server?.forceShutdown();
  });

  it('resets a unary call whose status cannot be sent: the client fails at once with INTERNAL, not at its deadline', async () => {
    const err = await new Promise<ServiceError>((resolve, reject) =>
      client.check({ service: 'x' }, new Metadata(), { deadline: Date.now() + DEADLINE_MS }, (e) =>
        e ? resolve(e) : reject(new Error('expected a failure')),
      ),
    );
    expect([err.code, err.details]).to.deep.equal([
      status.INTERNAL,
      'Received RST_STREAM with code 2 (Internal server error)',
    ]);
    expect(lines.join(''))
      .to.contain('cannot send the headers or status of a call: resetting it')
      .and.to.contain('ERR_HTTP2_INVALID_CONNECTION_HEADERS');
  });

  it('resets a stream whose trailers cannot be sent, after the messages it sent, instead of throwing out of grpc-js', async () => {
    const call = client.watch({ service: '' }, new Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const received: number[] = [];
    call.on('data', (r: { status: number }) => received.push(r.status));
    call.on('error', () => undefined);
    const end = await new Promise<StatusObject>((resolve) => call.on('status', resolve));
    expect([end.code, end.details, received]).to.deep.equal([
      status.INTERNAL,
      'Received RST_STREAM with code 2 (Internal server error)',
      [1],
    ]);
  });
});
