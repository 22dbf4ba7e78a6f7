import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { PredictRequest, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { parseServeConfig } from '../../../src/config';
import { issue, makeAuthority } from '../../support/certs';
import { expectSimpleAnswer, SIMPLE_REQUEST, writeFiles } from '../../support/secure-clients';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';
import { until } from '../../support/until';

const CONNECTIONS = 50;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const SETTINGS = 0x4;
const PING = 0x6;

/** An HTTP/2 frame header: 24-bit payload length, type, no flags, stream 0. */
function frameHeader(length: number, type: number): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(length, 0, 3);
  header[3] = type;
  return header;
}

/** A first frame that never completes: a SETTINGS frame announcing 1,000 bytes, of which 2 come. */
const HALF_SENT_SETTINGS = Buffer.concat([PREFACE, frameHeader(1000, SETTINGS), Buffer.from([0, 1])]);
/** A whole handshake (an empty SETTINGS frame), then nothing. */
const HANDSHAKE = Buffer.concat([PREFACE, frameHeader(0, SETTINGS)]);
/** A whole handshake, then a PING announcing 1,000 bytes (a PING has 8), 2 of them sent. */
const HALF_SENT_PING = Buffer.concat([HANDSHAKE, frameHeader(1000, PING), Buffer.from([0, 1])]);

/** Descriptors this process holds (the server runs in it): each connection takes two, its client's and the server's. */
function openDescriptors(): number {
  return readdirSync(`/proc/${process.pid}/fd`).length;
}

/**
 * Opens a TCP connection, writes `bytes` and, with `fin`, half-closes it; settles once written.
 * `onClose` runs when the connection is closed, which takes the server closing its side.
 */
function send(port: number, bytes: Buffer | string, fin: boolean, onClose: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () =>
      fin ? socket.end(bytes, () => resolve()) : socket.write(bytes, () => resolve()),
    );
    socket.once('close', onClose);
    socket.on('error', () => undefined);
    socket.once('error', reject);
    socket.resume();
  });
}

/**
 * Opens `CONNECTIONS` connections that send `bytes` and half-close (unless `fin` is false);
 * settles once the server closed every one.
 */
async function sendMany(port: number, bytes: Buffer | string, { fin } = { fin: true }): Promise<void> {
  let closed = 0;
  for (let i = 0; i < CONNECTIONS; i++) await send(port, bytes, fin, () => closed++);
  await until(() => closed === CONNECTIONS, `the server closing all ${CONNECTIONS} connections`);
}

/** A bare HTTP/2 connection (TLS when given the CA), settled once the server's SETTINGS arrived. */
async function rawSession(port: number, ca?: string): Promise<ClientHttp2Session> {
  const session = ca === undefined ? connect(`http://127.0.0.1:${port}`) : connect(`https://localhost:${port}`, { ca });
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** One length-prefixed gRPC message. */
function grpcFrame(request: PredictRequest): Buffer {
  const body = PredictRequest.encode(request).finish();
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return frame;
}

describe('connection timeouts', function () {
  this.timeout(60_000);
  let repo: string;

  before(() => {
    repo = writeRepository({ simple: simpleModel() });
  });

  after(() => removeFolder(repo));

  it('defaults to a 10 s handshake timeout and a 5 min idle timeout, which flags and INFERD_* variables set', () => {
    expect(parseServeConfig({ argv: [], env: {} })).to.deep.include({
      handshakeTimeoutMs: 10_000,
      connectionIdleTimeoutMs: 300_000,
    });
    const set = parseServeConfig({
      argv: ['--handshake-timeout-ms', '2000'],
      env: { INFERD_CONNECTION_IDLE_TIMEOUT_MS: '0' },
    });
    expect(set).to.deep.include({ handshakeTimeoutMs: 2_000, connectionIdleTimeoutMs: 0 });
  });

  describe('with --handshake-timeout-ms 1000 and no idle timeout', () => {
    let t: TestServer;

    before(async () => {
      t = await startServer(repo, {
        handshakeTimeoutMs: 1_000,
        connectionIdleTimeoutMs: 0,
        modelControl: 'explicit',
        repositoryPollMs: 0,
      });
    });

    after(async () => {
      await t?.close();
    });

    it(`closes ${CONNECTIONS} connections whose SETTINGS frame never completes (FIN after 2 of 1,000 bytes), giving back every descriptor, and keeps one that completed its handshake`, async () => {
      const handshaken = await rawSession(t.server.port);
      let handshakenClosed = false;
      handshaken.on('close', () => (handshakenClosed = true));
      const baseline = openDescriptors();
      // Each closes only when the server closes its side: Node's http2 alone never would.
      await sendMany(t.server.port, HALF_SENT_SETTINGS);
      await until(() => openDescriptors() <= baseline, `descriptors back to ${baseline}`);
      // Opened before them, it was past the timeout too, but had sent its SETTINGS.
      expect(handshakenClosed).to.equal(false);
      handshaken.destroy();
    });

    it(`closes at once ${CONNECTIONS} connections that complete their handshake and then half-close`, async () => {
      const baseline = openDescriptors();
      await sendMany(t.server.port, HANDSHAKE);
      await until(() => openDescriptors() <= baseline, `descriptors back to ${baseline}`);
    });

    it(`closes on the HTTP port ${CONNECTIONS} connections that half-send a request and half-close`, async () => {
      const baseline = openDescriptors();
      await sendMany(t.server.httpPort, 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Half: ab');
      await until(() => openDescriptors() <= baseline, `descriptors back to ${baseline}`);
    });

    it('answers 408 on the HTTP port to a connection that sends part of a request and then nothing, and closes it', async () => {
      const socket = connectTcp(t.server.httpPort, '127.0.0.1', () =>
        socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'),
      );
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      await new Promise((resolve) => socket.once('close', resolve));
      expect(Buffer.concat(received).toString().split('\r\n')[0]).to.equal('HTTP/1.1 408 Request Timeout');
    });
  });

  describe('with TLS and --handshake-timeout-ms 1000', () => {
    const ca = makeAuthority('inferd test CA');
    const serverCert = issue(ca, { commonName: 'inferd', ips: ['127.0.0.1'], dns: ['localhost'] });
    let files: ReturnType<typeof writeFiles>;
    let t: TestServer;

    before(async () => {
      files = writeFiles({ 'server.crt': serverCert.cert, 'server.key': serverCert.key });
      t = await startServer(repo, {
        tlsCert: files.file('server.crt'),
        tlsKey: files.file('server.key'),
        handshakeTimeoutMs: 1_000,
        connectionIdleTimeoutMs: 0,
        modelControl: 'explicit',
        repositoryPollMs: 0,
      });
    });

    after(async () => {
      await t?.close();
      removeFolder(files.dir);
    });

    it(`closes ${CONNECTIONS} connections on each port that start a TLS handshake and go silent, and keeps one that completed its handshake and SETTINGS`, async () => {
      const handshaken = await rawSession(t.server.port, ca.cert);
      let handshakenClosed = false;
      handshaken.on('close', () => (handshakenClosed = true));
      const baseline = openDescriptors();
      // The first bytes of a TLS record: a handshake message, of a length never sent.
      const recordStart = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]);
      await sendMany(t.server.port, recordStart, { fin: false });
      await sendMany(t.server.httpPort, recordStart, { fin: false });
      await until(() => openDescriptors() <= baseline, `descriptors back to ${baseline}`);
      expect(handshakenClosed).to.equal(false);
      handshaken.destroy();
    });
  });

  describe('with --connection-idle-timeout-ms 500', () => {
    let t: TestServer;

    before(async () => {
      t = await startServer(repo, {
        handshakeTimeoutMs: 60_000,
        connectionIdleTimeoutMs: 500,
        modelControl: 'explicit',
        repositoryPollMs: 0,
      });
    });

    after(async () => {
      await t?.close();
    });

    it(`closes ${CONNECTIONS} connections that complete their handshake, then half-send a frame the server refuses and half-close`, async () => {
      const baseline = openDescriptors();
      await sendMany(t.server.port, HALF_SENT_PING);
      await until(() => openDescriptors() <= baseline, `descriptors back to ${baseline}`);
    });

    it('sends GOAWAY to a connection with no call open past the timeout and closes it, while one with a stream open keeps working', async () => {
      const idle = await rawSession(t.server.port);
      const busy = await rawSession(t.server.port);
      let idleAway: number | undefined;
      let idleClosed = false;
      idle.once('goaway', (code: number) => (idleAway = code));
      idle.once('close', () => (idleClosed = true));
      let busyAway = false;
      busy.on('goaway', () => (busyAway = true));
      const stream = busy.request({
        ':method': 'POST',
        ':path': '/inferd.v1.PredictionService/PredictStream',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const responses: PredictStreamResponse[] = [];
      let pending = Buffer.alloc(0);
      stream.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          const length = pending.readUInt32BE(1);
          responses.push(PredictStreamResponse.decode(pending.subarray(5, 5 + length)));
          pending = pending.subarray(5 + length);
        }
      });
      const trailers = new Promise<unknown>((resolve) =>
        stream.once('trailers', (headers) => resolve(headers['grpc-status'])),
      );
      const request = (id: string): PredictRequest => ({ ...SIMPLE_REQUEST, modelVersion: '', outputNames: [], id });
      stream.write(grpcFrame(request('first')));
      await until(() => responses.length === 1, 'the first answer');

      await until(() => idleClosed, 'the idle connection closed');
      expect(idleAway).to.equal(constants.NGHTTP2_NO_ERROR);
      // The idle one was closed past the timeout; the busy one, opened with it, is untouched.
      expect(busyAway).to.equal(false);
      stream.end(grpcFrame(request('second')));
      expect(await trailers).to.equal('0');
      expect(responses.map((r) => r.id)).to.deep.equal(['first', 'second']);
      for (const r of responses) expectSimpleAnswer(r.response!);
      busy.destroy();
    });

    it('tells HTTP keep-alive clients the timeout, and closes a connection with no request past it', async () => {
      const socket = connectTcp(t.server.httpPort, '127.0.0.1', () =>
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      await new Promise((resolve) => socket.once('close', resolve));
      const answer = Buffer.concat(received).toString();
      expect(answer.split('\r\n')[0]).to.equal('HTTP/1.1 200 OK');
      // 500 ms, in whole seconds; Node's default is 5.
      expect(answer).to.contain('\r\nConnection: keep-alive\r\nKeep-Alive: timeout=0\r\n');
    });
  });
});
