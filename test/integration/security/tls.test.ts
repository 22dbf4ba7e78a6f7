import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { credentials, Metadata, status, type ClientDuplexStream } from '@grpc/grpc-js';
import {
  type PredictionServiceClient,
  type PredictRequest,
  type PredictStreamResponse,
} from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { issue, makeAuthority, type Issued } from '../../support/certs';
import {
  capturedLog,
  expectSimpleAnswer,
  predictionClient,
  servedCertificate,
  SIMPLE_REQUEST,
  writeFiles,
} from '../../support/secure-clients';
import {
  predict,
  rejection,
  removeFolder,
  startServer,
  writeRepository,
  type TestServer,
} from '../../support/test-server';
import { httpGet } from '../../support/telemetry';
import { until } from '../../support/until';

describe('TLS and mutual TLS', () => {
  const ca = makeAuthority('inferd test CA');
  const otherCa = makeAuthority('some other CA');
  const serverCert = issue(ca, { commonName: 'inferd-1', ips: ['127.0.0.1'], dns: ['localhost'] });
  const rotatedCert = issue(ca, { commonName: 'inferd-2', ips: ['127.0.0.1'], dns: ['localhost'] });
  const clientCert = issue(ca, { commonName: 'client-a', dns: ['client-a.internal'] });
  const strangerCert = issue(otherCa, { commonName: 'client-a' });
  let repo: string;
  let files: ReturnType<typeof writeFiles>;

  const tlsClient = (address: string, client?: Issued): PredictionServiceClient =>
    predictionClient(
      address,
      credentials.createSsl(
        Buffer.from(ca.cert),
        client && Buffer.from(client.key),
        client && Buffer.from(client.cert),
      ),
    );

  before(() => {
    repo = writeRepository({ simple: simpleModel() });
    files = writeFiles({
      'server.crt': serverCert.cert,
      'server.key': serverCert.key,
      'client-ca.crt': ca.cert,
      'other.key': rotatedCert.key,
    });
  });

  after(() => {
    removeFolder(repo);
    removeFolder(files.dir);
  });

  describe('TLS (--tls-cert, --tls-key)', () => {
    let t: TestServer;
    const captured = capturedLog();

    before(async () => {
      writeFileSync(files.file('server.crt'), serverCert.cert);
      writeFileSync(files.file('server.key'), serverCert.key);
      t = await startServer(
        repo,
        { tlsCert: files.file('server.crt'), tlsKey: files.file('server.key') },
        { log: captured.log },
      );
    });

    after(async () => t?.close());

    it('answers Predict to a client that trusts the CA', async () => {
      const client = tlsClient(t.address);
      expectSimpleAnswer(await predict(client, SIMPLE_REQUEST));
      client.close();
    });

    it('refuses a plaintext client: UNAVAILABLE', async () => {
      const err = await rejection(predict(t.prediction, SIMPLE_REQUEST, { deadlineMs: 5000 }));
      expect(err.code).to.equal(status.UNAVAILABLE);
    });

    it('serves the HTTP port over HTTPS with the same certificate', async () => {
      expect(await httpGet(t.server.httpPort, '/healthz', { tls: { ca: ca.cert } })).to.deep.equal({
        status: 200,
        body: 'ok\n',
      });
      expect((await httpGet(t.server.httpPort, '/metrics', { tls: { ca: ca.cert } })).status).to.equal(200);
      expect((await servedCertificate(t.server.httpPort, ca.cert)).subject.CN).to.equal('inferd-1');
    });

    it('says in the startup log that TLS is on, and which certificate it serves', () => {
      const serving = captured.lines.map((l) => JSON.parse(l)).find((r) => r.msg === 'serving');
      expect(serving).to.include({ tls: 'on', auth: false });
      const loaded = captured.lines.map((l) => JSON.parse(l)).find((r) => r.msg === 'TLS certificate loaded');
      expect(loaded).to.include({ subject: 'CN=inferd-1,O=inferd tests', mutual: false });
      expect(captured.lines.join('')).not.to.include('PRIVATE KEY');
    });

    it('serves a rotated certificate to new connections without cutting open ones, and refuses a key that does not match', async () => {
      const client = tlsClient(t.address);
      const stream: ClientDuplexStream<PredictRequest, PredictStreamResponse> = client.predictStream(new Metadata());
      const answers: PredictStreamResponse[] = [];
      stream.on('data', (r: PredictStreamResponse) => answers.push(r));
      const ended = new Promise<void>((resolve, reject) =>
        stream.on('status', (s: { code: number; details: string }) =>
          s.code === status.OK ? resolve() : reject(new Error(s.details)),
        ),
      );
      stream.write({ ...SIMPLE_REQUEST, outputNames: [], modelVersion: '', id: 'before' });
      await until(() => answers.length === 1, 'the first answer');

      // A certificate whose key does not match is refused: the old one stays.
      writeFileSync(files.file('server.crt'), rotatedCert.cert);
      await until(
        () => captured.lines.some((l) => l.includes('changed files are not valid')),
        'the warning about the mismatched key',
      );
      expect((await servedCertificate(t.server.port, ca.cert)).subject.CN).to.equal('inferd-1');

      writeFileSync(files.file('server.key'), rotatedCert.key);
      await until(
        async () => (await servedCertificate(t.server.port, ca.cert)).subject.CN === 'inferd-2',
        'the rotated certificate on a new connection',
      );
      expect((await servedCertificate(t.server.httpPort, ca.cert)).subject.CN).to.equal('inferd-2');

      // The stream opened before the rotation still answers.
      stream.write({ ...SIMPLE_REQUEST, outputNames: [], modelVersion: '', id: 'after' });
      await until(() => answers.length === 2, 'the answer after the rotation');
      stream.end();
      await ended;
      expect(answers.map((a) => [a.response?.id, a.error])).to.deep.equal([
        ['before', undefined],
        ['after', undefined],
      ]);
      // And a new client, on a new connection, is served too.
      const fresh = tlsClient(t.address);
      expectSimpleAnswer(await predict(fresh, SIMPLE_REQUEST));
      fresh.close();
      client.close();
    });
  });

  describe('mutual TLS (--tls-client-ca)', () => {
    let t: TestServer;
    const captured = capturedLog();

    before(async () => {
      writeFileSync(files.file('server.crt'), serverCert.cert);
      writeFileSync(files.file('server.key'), serverCert.key);
      t = await startServer(
        repo,
        {
          tlsCert: files.file('server.crt'),
          tlsKey: files.file('server.key'),
          tlsClientCa: files.file('client-ca.crt'),
          logLevel: 'debug',
        },
        { log: captured.log },
      );
    });

    after(async () => t?.close());

    it('answers a client presenting a certificate the client CA signed, and logs its subject', async () => {
      const client = tlsClient(t.address, clientCert);
      expectSimpleAnswer(await predict(client, SIMPLE_REQUEST));
      client.close();
      const connected = captured.lines
        .map((l) => JSON.parse(l))
        .find((r) => r.msg === 'client connected with a certificate');
      expect(connected?.clientSubject).to.equal('CN=client-a,O=inferd tests');
    });

    it('refuses a client without a certificate: UNAVAILABLE', async () => {
      const client = tlsClient(t.address);
      const err = await rejection(predict(client, SIMPLE_REQUEST, { deadlineMs: 5000 }));
      expect(err.code).to.equal(status.UNAVAILABLE);
      client.close();
    });

    it('refuses a client whose certificate another CA signed: UNAVAILABLE', async () => {
      const client = tlsClient(t.address, strangerCert);
      const err = await rejection(predict(client, SIMPLE_REQUEST, { deadlineMs: 5000 }));
      expect(err.code).to.equal(status.UNAVAILABLE);
      client.close();
    });

    it('keeps /healthz open to probes without a certificate, and /metrics for verified clients only', async () => {
      expect((await httpGet(t.server.httpPort, '/healthz', { tls: { ca: ca.cert } })).status).to.equal(200);
      expect((await httpGet(t.server.httpPort, '/readyz', { tls: { ca: ca.cert } })).status).to.equal(200);
      expect(await httpGet(t.server.httpPort, '/metrics', { tls: { ca: ca.cert } })).to.deep.equal({
        status: 401,
        body: 'a client certificate signed by the client CA is needed\n',
      });
      expect(
        (
          await httpGet(t.server.httpPort, '/metrics', {
            tls: { ca: ca.cert, cert: strangerCert.cert, key: strangerCert.key },
          })
        ).status,
      ).to.equal(401);
      expect(
        (
          await httpGet(t.server.httpPort, '/metrics', {
            tls: { ca: ca.cert, cert: clientCert.cert, key: clientCert.key },
          })
        ).status,
      ).to.equal(200);
    });
  });

  describe('bad files', () => {
    it('refuses to start with an expired certificate, saying when it expired', async () => {
      const expiredAt = new Date(Date.now() - 60_000);
      const expired = issue(ca, {
        commonName: 'inferd-old',
        ips: ['127.0.0.1'],
        notBefore: new Date(Date.now() - 3_600_000),
        notAfter: expiredAt,
      });
      writeFileSync(files.file('expired.crt'), expired.cert);
      writeFileSync(files.file('expired.key'), expired.key);
      const err = await rejection(
        startServer(repo, { tlsCert: files.file('expired.crt'), tlsKey: files.file('expired.key') }),
      );
      expect(err.message).to.equal(
        `TLS certificate: ${files.file('expired.crt')}: the certificate expired at ${new Date(Math.floor(expiredAt.getTime() / 1000) * 1000).toISOString()}`,
      );
    });

    it('refuses to start with a key that does not belong to the certificate, naming the file', async () => {
      const err = await rejection(
        startServer(repo, { tlsCert: files.file('client-ca.crt'), tlsKey: files.file('other.key') }),
      );
      expect(err.message).to.equal(
        `TLS certificate: ${files.file('other.key')}: this private key does not belong to the certificate in ${files.file('client-ca.crt')}`,
      );
    });
  });
});
