import { expect } from 'chai';
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { PredictionServiceClient, type PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { expectSimpleAnswer, SIMPLE_REQUEST } from '../../support/secure-clients';
import { predict, removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';

/** A bare HTTP/2 connection to the server, settled once the server's SETTINGS arrived. */
async function rawSession(port: number): Promise<ClientHttp2Session> {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  return session;
}

function ping(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
}

function goaway(session: ClientHttp2Session): Promise<{ errorCode: number; opaqueData: string }> {
  return new Promise((resolve) =>
    session.once('goaway', (errorCode: number, _last: number, opaqueData?: Buffer) =>
      resolve({ errorCode, opaqueData: opaqueData?.toString() ?? '' }),
    ),
  );
}

describe('connection limits', () => {
  let repo: string;
  let t: TestServer;

  before(async () => {
    repo = writeRepository({ simple: simpleModel() });
    t = await startServer(repo, {
      maxConcurrentStreams: 7,
      keepaliveMinPingIntervalMs: 60_000,
      maxConnectionAgeMs: 400,
      maxConnectionAgeGraceMs: 2_000,
    });
  });

  after(async () => {
    await t?.close();
    removeFolder(repo);
  });

  it('tells each connection the bound on concurrent calls (--max-concurrent-streams)', async () => {
    const session = await rawSession(t.server.port);
    expect(session.remoteSettings.maxConcurrentStreams).to.equal(7);
    session.destroy();
  });

  it('forgives two early pings, and answers a third with GOAWAY ENHANCE_YOUR_CALM "too_many_pings"', async () => {
    // A server of its own: no connection age to end the connection first on a slow machine.
    const own = await startServer(repo, { keepaliveMinPingIntervalMs: 60_000 });
    const session = await rawSession(own.server.port);
    const away = goaway(session);
    let goneAway = false;
    void away.then(() => (goneAway = true));
    for (let i = 0; i < 3; i++) await ping(session); // the first is on time; the next two are strikes 1 and 2
    await new Promise((r) => setTimeout(r, 100));
    expect(goneAway).to.equal(false);
    await ping(session).catch(() => undefined); // strike 3
    expect(await away).to.deep.equal({ errorCode: constants.NGHTTP2_ENHANCE_YOUR_CALM, opaqueData: 'too_many_pings' });
    session.destroy();
    await own.close();
  });

  it('does not count pings while the server sends data (a client keepalive at 50 ms on a busy stream)', async () => {
    // A server of its own: no connection age to end the stream.
    const busy = await startServer(repo, { keepaliveMinPingIntervalMs: 60_000 });
    const client = new PredictionServiceClient(busy.address, credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 50,
      'grpc.keepalive_permit_without_calls': 1,
    });
    const stream = client.predictStream(new Metadata());
    const answered: string[] = [];
    stream.on('data', (r: PredictStreamResponse) => answered.push(r.response?.id ?? r.error?.message ?? ''));
    const ended = new Promise<{ code: number; details: string }>((resolve) => stream.on('status', resolve));
    stream.on('error', () => undefined);
    for (let i = 0; i < 20; i++) {
      stream.write({ ...SIMPLE_REQUEST, modelVersion: '', outputNames: [], id: String(i) });
      await new Promise((r) => setTimeout(r, 20));
    }
    stream.end();
    const s = await ended;
    client.close();
    await busy.close();
    expect([s.code, s.details, answered.length]).to.deep.equal([status.OK, 'OK', 20]);
  });

  it('sends GOAWAY to a connection older than --max-connection-age-ms, while calls go on unbroken', async () => {
    // Taken before connecting: the server's clock for the connection starts later, however long connecting takes.
    const started = Date.now();
    const session = await rawSession(t.server.port);
    const away = await goaway(session);
    expect(away.errorCode).to.equal(constants.NGHTTP2_NO_ERROR);
    // Not before its age: 400 ms less grpc-js's jitter of up to 10%, less a little for timer granularity.
    expect(Date.now() - started).to.be.at.least(350);
    session.destroy();
    // A client calling across several connection ages (and for at least 6 calls) sees no failure: it reconnects.
    const until = Date.now() + 1_500;
    let calls = 0;
    while (Date.now() < until || calls < 6) {
      expectSimpleAnswer(await predict(t.prediction, SIMPLE_REQUEST));
      calls++;
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});
