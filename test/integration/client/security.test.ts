import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { InferdClient, InferdClientError, type Inputs } from '../../../src/client';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { issue, makeAuthority } from '../../support/certs';
import { writeFiles } from '../../support/secure-clients';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';
import { clientFailure } from '../../support/failure';

const X: Inputs = { x: { data: Float32Array.of(1, 2, 3, 4), shape: [1, 4] } };
const Y = tinyMlpReference([1, 2, 3, 4]);

describe('inferd/client over TLS, with tokens', function () {
  this.timeout(60_000);
  const TOKEN = randomBytes(24).toString('base64url');
  const ca = makeAuthority('inferd test CA');
  const other = makeAuthority('another CA');
  const serverCert = issue(ca, { commonName: 'localhost', dns: ['localhost'] });
  const clientCert = issue(ca, { commonName: 'client-x' });
  let repo: string;
  let files: ReturnType<typeof writeFiles>;
  let t: TestServer;

  before(async () => {
    repo = writeRepository({ tiny_mlp: tinyMlpModel() });
    const digest = createHash('sha256').update(TOKEN).digest('hex');
    files = writeFiles({
      'server.crt': serverCert.cert,
      'server.key': serverCert.key,
      'ca.crt': ca.cert,
      'access.yaml': `tokens:\n  - { name: app, sha256: ${digest}, scopes: [predict, models:read, jobs] }\n`,
    });
    t = await startServer(repo, {
      tlsCert: files.file('server.crt'),
      tlsKey: files.file('server.key'),
      tlsClientCa: files.file('ca.crt'),
      authTokens: files.file('access.yaml'),
    });
  });

  after(async () => {
    await t?.close();
    removeFolder(repo);
    removeFolder(files.dir);
  });

  const mutual = { ca: Buffer.from(ca.cert), cert: Buffer.from(clientCert.cert), key: Buffer.from(clientCert.key) };

  it('predicts, streams and reads models over mutual TLS with a bearer token', async () => {
    const client = new InferdClient(`localhost:${t.server.port}`, { token: TOKEN, tls: mutual });
    try {
      expect(Array.from((await client.predict('tiny_mlp', X)).outputs['y']!.data as Float32Array)).to.deep.equal(Y);
      const results = [];
      for await (const r of client.predictStream('tiny_mlp', [X, X]))
        results.push(Array.from(r.outputs!['y']!.data as Float32Array));
      expect(results).to.deep.equal([Y, Y]);
      expect((await client.listModels()).map((m) => m.name)).to.deep.equal(['tiny_mlp']);
    } finally {
      client.close();
    }
  });

  it('reaches the server by IP address, given the name its certificate carries', async () => {
    const client = new InferdClient([`127.0.0.1:${t.server.port}`, `127.0.0.1:${t.server.port}`], {
      token: TOKEN,
      tls: { ...mutual, serverName: 'localhost' },
    });
    try {
      expect(Array.from((await client.predict('tiny_mlp', X)).outputs['y']!.data as Float32Array)).to.deep.equal(Y);
    } finally {
      client.close();
    }
  });

  it("fails UNAUTHENTICATED with the server's reason without a token, for a call and for a stream", async () => {
    const client = new InferdClient(`localhost:${t.server.port}`, { tls: mutual });
    try {
      const err = await clientFailure(client.predict('tiny_mlp', X));
      expect([err.code, err.message, err.retryable]).to.deep.equal([
        'UNAUTHENTICATED',
        'this call needs credentials: send the metadata "authorization: Bearer <token>"',
        false,
      ]);
      let thrown: unknown;
      try {
        for await (const r of client.predictStream('tiny_mlp', [X]))
          expect.fail(`a result came: ${JSON.stringify(r.error)}`);
      } catch (e) {
        thrown = e;
      }
      expect([(thrown as InferdClientError).code, (thrown as InferdClientError).message]).to.deep.equal([
        'UNAUTHENTICATED',
        err.message,
      ]);
    } finally {
      client.close();
    }
  });

  it("fails UNAVAILABLE when the server's certificate is not signed by the CA it trusts", async () => {
    const client = new InferdClient(`localhost:${t.server.port}`, {
      token: TOKEN,
      tls: { ca: Buffer.from(other.cert), cert: mutual.cert, key: mutual.key },
      retries: 1,
      retryDelayMs: 1,
    });
    try {
      const err = await clientFailure(client.predict('tiny_mlp', X));
      expect([err.code, err.retryable]).to.deep.equal(['UNAVAILABLE', true]);
    } finally {
      client.close();
    }
  });
});
