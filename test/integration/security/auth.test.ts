import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import {
  type PredictionServiceClient,
  type PredictStreamResponse,
} from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { SCOPES, type Scope } from '../../../src/security/scopes';
import { methodAccess, type MethodAccess } from '../../../src/transport/grpc/method-scopes';
import { issue, makeAuthority } from '../../support/certs';
import { ALL_METHODS, rawCall } from '../../support/raw-call';
import {
  capturedLog,
  expectSimpleAnswer,
  predictionClient,
  SIMPLE_REQUEST,
  writeFiles,
} from '../../support/secure-clients';
import { httpGet } from '../../support/telemetry';
import {
  predict,
  rejection,
  removeFolder,
  startServer,
  writeRepository,
  type TestServer,
} from '../../support/test-server';
import { until } from '../../support/until';

const secret = (): string => randomBytes(24).toString('base64url');
const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');
const bearer = (token: string): Metadata => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

/** For each scope, a token with only it and a token with every other one. */
const ONLY = Object.fromEntries(SCOPES.map((s) => [s, secret()])) as Record<Scope, string>;
const ALL_BUT = Object.fromEntries(SCOPES.map((s) => [s, secret()])) as Record<Scope, string>;
const LIMITED = secret();
const LIMITED_STREAM = secret();
const LATER = secret();
const REVOKED = secret();
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'inferd-tests';

/** The access file, with `extraTokens` (YAML list entries) after the standard ones. */
function accessFile(extraTokens: string[] = []): string {
  const lines = ['tokens:'];
  for (const s of SCOPES) {
    lines.push(`  - { name: only-${s.replace(':', '-')}, sha256: ${sha256(ONLY[s])}, scopes: [${s}] }`);
    lines.push(
      `  - { name: all-but-${s.replace(':', '-')}, sha256: ${sha256(ALL_BUT[s])}, scopes: [${SCOPES.filter((o) => o !== s).join(', ')}] }`,
    );
  }
  // One request per 100 s: a bucket of one that no slowness of the machine refills during a test.
  lines.push(`  - { name: limited, sha256: ${sha256(LIMITED)}, scopes: [predict], rate_per_second: 0.01 }`);
  lines.push(`  - { name: revoked, sha256: ${sha256(REVOKED)}, scopes: [predict] }`);
  lines.push(
    `  - { name: limited-stream, sha256: ${sha256(LIMITED_STREAM)}, scopes: [predict], rate_per_second: 0.01 }`,
  );
  lines.push(...extraTokens);
  lines.push('clients:', '  - { name: client-a, common_name: client-a, scopes: [predict] }');
  return `${lines.join('\n')}\n`;
}

describe('authentication and authorisation', () => {
  let repo: string;
  let files: ReturnType<typeof writeFiles>;
  let t: TestServer;
  const captured = capturedLog();
  let signingKey: CryptoKey;
  let strangerKey: CryptoKey;
  const issued: string[] = [];

  /** A JWT for this server; `expiresAt` null: none. */
  const jwt = async (
    claims: Record<string, unknown>,
    options: { key?: CryptoKey; issuer?: string; audience?: string; expiresAt?: number | null } = {},
  ): Promise<string> => {
    const unsigned = new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject('user-7')
      .setIssuer(options.issuer ?? ISSUER)
      .setAudience(options.audience ?? AUDIENCE);
    if (options.expiresAt !== null)
      unsigned.setExpirationTime(options.expiresAt ?? Math.floor(Date.now() / 1000) + 300);
    const token = await unsigned.sign(options.key ?? signingKey);
    issued.push(token);
    return token;
  };

  before(async () => {
    const pair = await generateKeyPair('ES256');
    signingKey = pair.privateKey;
    strangerKey = (await generateKeyPair('ES256')).privateKey;
    const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
    repo = writeRepository({ simple: simpleModel() });
    files = writeFiles({ 'access.yaml': accessFile(), 'jwks.json': JSON.stringify(jwks) });
    t = await startServer(
      repo,
      {
        authTokens: files.file('access.yaml'),
        authJwks: files.file('jwks.json'),
        authJwtIssuer: ISSUER,
        authJwtAudience: AUDIENCE,
        logLevel: 'debug',
      },
      { log: captured.log },
    );
  });

  after(async () => {
    await t?.close();
    removeFolder(repo);
    removeFolder(files.dir);
  });

  it('gives every method the server registers an access rule', () => {
    const missing = ALL_METHODS.filter((m) => methodAccess(m.path, 'open') === undefined).map((m) => m.path);
    expect(missing).to.deep.equal([]);
    expect(ALL_METHODS.length).to.equal(38);
  });

  describe('each scope allows what it should and denies the rest, over every service', () => {
    for (const method of ALL_METHODS) {
      const access: MethodAccess = methodAccess(method.path, 'open')!;
      if (access === 'open') {
        it(`${method.path} is open: answered without credentials`, async () => {
          const r = await rawCall(t.address, method);
          expect([status.UNAUTHENTICATED, status.PERMISSION_DENIED]).not.to.include(r.code);
        });
        continue;
      }
      it(`${method.path} needs "${access}"`, async () => {
        const allowed = await rawCall(t.address, method, bearer(ONLY[access]));
        expect(
          [status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.RESOURCE_EXHAUSTED],
          allowed.details,
        ).not.to.include(allowed.code);
        const denied = await rawCall(t.address, method, bearer(ALL_BUT[access]));
        const name = `all-but-${access.replace(':', '-')}`;
        expect(denied).to.deep.equal({
          code: status.PERMISSION_DENIED,
          details: `token "${name}" lacks the scope "${access}", which ${method.path.slice(1)} needs`,
        });
        const anonymous = await rawCall(t.address, method);
        expect(anonymous).to.deep.equal({
          code: status.UNAUTHENTICATED,
          details: 'this call needs credentials: send the metadata "authorization: Bearer <token>"',
        });
      });
    }
  });

  it('tells an anonymous caller UNAUTHENTICATED before it looks at the bytes it sent; an authorised caller hears that they cannot be decoded', async () => {
    const garbage = Buffer.from([0x0f]);
    for (const path of ['/inferd.v1.PredictionService/Predict', '/inferd.v1.ModelService/ListModels']) {
      const method = ALL_METHODS.find((m) => m.path === path)!;
      const anonymous = await rawCall(t.address, method, new Metadata(), undefined, garbage);
      expect(anonymous.code, path).to.equal(status.UNAUTHENTICATED);
      const allowed = await rawCall(
        t.address,
        method,
        bearer(ONLY[methodAccess(path, 'open') as Scope]),
        undefined,
        garbage,
      );
      expect(allowed.code, path).to.equal(status.INVALID_ARGUMENT);
    }
  });

  describe('bearer tokens', () => {
    it('answers Predict exactly with a "predict" token', async () => {
      expectSimpleAnswer(await predict(t.prediction, SIMPLE_REQUEST, { metadata: bearer(ONLY.predict) }));
    });

    it('refuses a wrong token and a malformed header: UNAUTHENTICATED', async () => {
      const wrong = await rejection(predict(t.prediction, SIMPLE_REQUEST, { metadata: bearer(secret()) }));
      expect([wrong.code, wrong.details]).to.deep.equal([status.UNAUTHENTICATED, 'the bearer token is not valid']);
      const basic = new Metadata();
      basic.set('authorization', `Basic ${Buffer.from(`user:${ONLY.predict}`).toString('base64')}`);
      const malformed = await rejection(predict(t.prediction, SIMPLE_REQUEST, { metadata: basic }));
      expect([malformed.code, malformed.details]).to.deep.equal([
        status.UNAUTHENTICATED,
        'the "authorization" metadata must be "Bearer <token>"',
      ]);
      const empty = new Metadata();
      empty.set('authorization', 'Bearer');
      expect((await rejection(predict(t.prediction, SIMPLE_REQUEST, { metadata: empty }))).details).to.equal(
        'the "authorization" metadata must be "Bearer <token>"',
      );
    });

    it('limits a token to its rate: RESOURCE_EXHAUSTED past it, naming the token', async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 6 }, () =>
          predict(t.prediction, SIMPLE_REQUEST, { metadata: bearer(LIMITED) }).then(
            () => 'OK',
            (e: { details: string }) => e.details,
          ),
        ),
      );
      expect(outcomes.filter((o) => o === 'OK')).to.have.length(1);
      expect(outcomes.filter((o) => o !== 'OK')).to.deep.equal(
        Array(5).fill('token "limited" is over its rate of 0.01 requests per second'),
      );
    });

    it('counts each message of a stream against the rate, and ends the stream past it', async () => {
      const stream = t.prediction.predictStream(bearer(LIMITED_STREAM));
      const ids: string[] = [];
      stream.on('data', (r: PredictStreamResponse) => ids.push(r.response?.id ?? r.error?.message ?? ''));
      const ended = new Promise<{ code: status; details: string }>((resolve) => stream.on('status', resolve));
      stream.on('error', () => undefined);
      for (const id of ['1', '2', '3', '4']) stream.write({ ...SIMPLE_REQUEST, modelVersion: '', outputNames: [], id });
      const s = await ended;
      expect([s.code, s.details]).to.deep.equal([
        status.RESOURCE_EXHAUSTED,
        'token "limited-stream" is over its rate of 0.01 requests per second',
      ]);
      expect(ids.length).to.be.at.most(1);
    });

    it('ends an open stream at its next message once its token is taken out of the access file', async () => {
      const stream = t.prediction.predictStream(bearer(REVOKED));
      const ids: string[] = [];
      stream.on('data', (r: PredictStreamResponse) => ids.push(r.response?.id ?? ''));
      stream.on('error', () => undefined);
      const ended = new Promise<{ code: status; details: string }>((resolve) => stream.on('status', resolve));
      stream.write({ ...SIMPLE_REQUEST, modelVersion: '', outputNames: [], id: 'before' });
      await until(() => ids.length === 1, 'the answer before the revocation');
      const reloads = captured.lines.filter((l) => l.includes('reloaded changed files')).length;
      writeFileSync(files.file('access.yaml'), accessFile().replace(/.*name: revoked.*\n/, ''));
      await until(
        () => captured.lines.filter((l) => l.includes('reloaded changed files')).length > reloads,
        'the access file reloaded',
      );
      stream.write({ ...SIMPLE_REQUEST, modelVersion: '', outputNames: [], id: 'after' });
      const s = await ended;
      expect([s.code, s.details, ids]).to.deep.equal([
        status.UNAUTHENTICATED,
        'the bearer token is not valid any more: it was taken out of the access file',
        ['before'],
      ]);
    });

    it('takes a token added to the access file without a restart', async () => {
      const before = await rejection(predict(t.prediction, SIMPLE_REQUEST, { metadata: bearer(LATER) }));
      expect(before.code).to.equal(status.UNAUTHENTICATED);
      writeFileSync(
        files.file('access.yaml'),
        accessFile([`  - { name: later, sha256: ${sha256(LATER)}, scopes: [predict] }`]),
      );
      await until(
        async () =>
          await predict(t.prediction, SIMPLE_REQUEST, { metadata: bearer(LATER) }).then(
            () => true,
            () => false,
          ),
        'the new token accepted',
        10_000,
        100,
      );
    });
  });

  describe('JWT bearer tokens (--auth-jwks)', () => {
    it('accepts a JWT signed by a key of the set, with scopes from its "scope" claim', async () => {
      const token = await jwt({ scope: 'predict models:read' });
      expectSimpleAnswer(await predict(t.prediction, SIMPLE_REQUEST, { metadata: bearer(token) }));
      const load = await rawCall(
        t.address,
        ALL_METHODS.find((m) => m.path.endsWith('/LoadModel'))!,
        bearer(token),
      );
      expect(load).to.deep.equal({
        code: status.PERMISSION_DENIED,
        details: 'jwt "user-7" lacks the scope "models:admin", which inferd.v1.ModelService/LoadModel needs',
      });
    });

    it('refuses expired, foreign-audience, foreign-issuer, wrongly signed and malformed JWTs: UNAUTHENTICATED', async () => {
      const cases: Array<[string, string]> = [
        [
          await jwt({ scope: 'predict' }, { expiresAt: Math.floor(Date.now() / 1000) - 120 }),
          'the bearer token is not valid: it has expired',
        ],
        [
          await jwt({ scope: 'predict' }, { audience: 'someone-else' }),
          'the bearer token is not valid: its "aud" claim is not what this server accepts',
        ],
        [
          await jwt({ scope: 'predict' }, { issuer: 'https://evil.test' }),
          'the bearer token is not valid: its "iss" claim is not what this server accepts',
        ],
        [
          await jwt({ scope: 'predict' }, { key: strangerKey }),
          'the bearer token is not valid: its signature does not verify',
        ],
        [await jwt({ scope: 'predict' }, { expiresAt: null }), 'the bearer token is not valid: it has no "exp" claim'],
        ['bm90IGpzb24.bm90IGpzb24.c2ln', 'the bearer token is not valid: it is not a well-formed JWT'],
      ];
      for (const [token, details] of cases) {
        const err = await rejection(predict(t.prediction, SIMPLE_REQUEST, { metadata: bearer(token) }));
        expect([err.code, err.details]).to.deep.equal([status.UNAUTHENTICATED, details]);
      }
    });
  });

  describe('health, reflection and /metrics', () => {
    it('keeps health open while authentication is on', async () => {
      const check = await rawCall(
        t.address,
        ALL_METHODS.find((m) => m.path === '/grpc.health.v1.Health/Check')!,
      );
      expect(check.code).to.equal(status.OK);
      expect((await httpGet(t.server.httpPort, '/healthz')).status).to.equal(200);
      expect((await httpGet(t.server.httpPort, '/readyz')).status).to.equal(200);
    });

    it('leaves reflection open by default, so that grpcurl and buf curl keep working', async () => {
      const r = await rawCall(
        t.address,
        ALL_METHODS.find((m) => m.path === '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo')!,
      );
      expect(r.code).to.equal(status.OK);
    });

    it('serves /metrics only to callers with the "metrics" scope: 401, 403, 200', async () => {
      const get = (token?: string): Promise<{ status: number; body: string }> =>
        httpGet(t.server.httpPort, '/metrics', {
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        });
      expect(await get()).to.deep.equal({
        status: 401,
        body: 'this call needs credentials: send the metadata "authorization: Bearer <token>"\n',
      });
      expect(await get(ONLY.predict)).to.deep.equal({
        status: 403,
        body: 'token "only-predict" lacks the scope "metrics", which GET /metrics needs\n',
      });
      const ok = await get(ONLY.metrics);
      expect(ok.status).to.equal(200);
      expect(ok.body).to.include('inferd_requests_total');
    });

    it('closes reflection to callers without "models:read" with --reflection auth, and serves none with --reflection off', async () => {
      const reflection = ALL_METHODS.find(
        (m) => m.path === '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      )!;
      const closed = await startServer(repo, { authTokens: files.file('access.yaml'), reflection: 'auth' });
      try {
        expect((await rawCall(closed.address, reflection)).code).to.equal(status.UNAUTHENTICATED);
        expect((await rawCall(closed.address, reflection, bearer(ALL_BUT['models:read']))).code).to.equal(
          status.PERMISSION_DENIED,
        );
        expect((await rawCall(closed.address, reflection, bearer(ONLY['models:read']))).code).to.equal(status.OK);
      } finally {
        await closed.close();
      }
      const off = await startServer(repo, { reflection: 'off' });
      try {
        expect((await rawCall(off.address, reflection)).code).to.equal(status.UNIMPLEMENTED);
      } finally {
        await off.close();
      }
    });
  });

  describe('client certificates mapped to scopes (mutual TLS)', () => {
    const ca = makeAuthority('inferd test CA');
    const serverCert = issue(ca, { commonName: 'inferd', ips: ['127.0.0.1'], dns: ['localhost'] });
    const clientA = issue(ca, { commonName: 'client-a' });
    const clientB = issue(ca, { commonName: 'client-b' });
    let m: TestServer;
    let tlsFiles: ReturnType<typeof writeFiles>;

    before(async () => {
      tlsFiles = writeFiles({ 'server.crt': serverCert.cert, 'server.key': serverCert.key, 'ca.crt': ca.cert });
      m = await startServer(repo, {
        authTokens: files.file('access.yaml'),
        tlsCert: tlsFiles.file('server.crt'),
        tlsKey: tlsFiles.file('server.key'),
        tlsClientCa: tlsFiles.file('ca.crt'),
      });
    });

    after(async () => {
      await m?.close();
      removeFolder(tlsFiles.dir);
    });

    const client = (cert: { cert: string; key: string }): PredictionServiceClient =>
      predictionClient(
        m.address,
        credentials.createSsl(Buffer.from(ca.cert), Buffer.from(cert.key), Buffer.from(cert.cert)),
      );

    it('gives a listed certificate its scopes without a token, and nothing more', async () => {
      const c = client(clientA);
      expectSimpleAnswer(await predict(c, SIMPLE_REQUEST));
      c.close();
      const creds = credentials.createSsl(Buffer.from(ca.cert), Buffer.from(clientA.key), Buffer.from(clientA.cert));
      const list = await rawCall(
        m.address,
        ALL_METHODS.find((x) => x.path.endsWith('/ListModels'))!,
        new Metadata(),
        creds,
      );
      expect(list).to.deep.equal({
        code: status.PERMISSION_DENIED,
        details:
          'certificate "CN=client-a,O=inferd tests" lacks the scope "models:read", which inferd.v1.ModelService/ListModels needs',
      });
    });

    it('refuses an unlisted certificate without a token, and takes a token over it', async () => {
      const c = client(clientB);
      const err = await rejection(predict(c, SIMPLE_REQUEST));
      expect([err.code, err.details]).to.deep.equal([
        status.UNAUTHENTICATED,
        'the client certificate "CN=client-b,O=inferd tests" is not in the access file, and no bearer token was sent',
      ]);
      expectSimpleAnswer(await predict(c, SIMPLE_REQUEST, { metadata: bearer(ONLY.predict) }));
      c.close();
    });
  });

  describe('logs', () => {
    it('never hold a token, a JWT or an authorization header, but name who was refused', () => {
      const text = captured.lines.join('');
      const secrets = [
        ...Object.values(ONLY),
        ...Object.values(ALL_BUT),
        LIMITED,
        LIMITED_STREAM,
        LATER,
        REVOKED,
        ...issued,
      ];
      expect(secrets.filter((s) => text.includes(s))).to.deep.equal([]);
      expect(text.toLowerCase()).not.to.include('bearer ey');
      const refused = captured.lines.map((l) => JSON.parse(l)).filter((r) => r.msg === 'call refused');
      expect(
        refused.some(
          (r) =>
            r.caller === 'all-but-predict' &&
            r.code === 'PERMISSION_DENIED' &&
            r.method === '/inferd.v1.PredictionService/Predict',
        ),
      ).to.equal(true);
      expect(captured.lines.map((l) => JSON.parse(l)).find((r) => r.msg === 'authentication on')).to.include({
        tokens: 13,
        clients: 1,
        jwt: true,
      });
    });
  });
});
