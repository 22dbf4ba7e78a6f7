import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { simpleModel } from '../../../src/example-models/example-models';
import { issue, makeAuthority } from '../../support/certs';
import { errorOf, rest, type RestOptions, type RestResponse } from '../../support/rest-request';
import { writeFiles } from '../../support/secure-clients';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';

const secret = (): string => randomBytes(24).toString('base64url');
const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

const PREDICT = secret();
const READ = secret();
const ADMIN = secret();
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'inferd-tests';

const RANGE16 = Array.from({ length: 16 }, (_, i) => i);
const SIMPLE_BODY = {
  inputs: [
    { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: RANGE16 },
    { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: RANGE16 },
  ],
};

/** Every route, with what it needs and a request that it answers 200 when allowed. */
const ROUTES: { method: string; path: string; scope: 'open' | 'predict' | 'models:read' | 'models:admin'; body?: object }[] = [
  { method: 'GET', path: '/v2/health/live', scope: 'open' },
  { method: 'GET', path: '/v2/health/ready', scope: 'open' },
  { method: 'GET', path: '/v2/models/simple/ready', scope: 'open' },
  { method: 'GET', path: '/v2', scope: 'models:read' },
  { method: 'GET', path: '/v2/models/simple', scope: 'models:read' },
  { method: 'GET', path: '/v2/models/simple/config', scope: 'models:read' },
  { method: 'GET', path: '/v2/models/simple/stats', scope: 'models:read' },
  { method: 'GET', path: '/v2/models/stats', scope: 'models:read' },
  { method: 'POST', path: '/v2/repository/index', scope: 'models:read' },
  { method: 'POST', path: '/v2/models/simple/infer', scope: 'predict', body: SIMPLE_BODY },
  { method: 'POST', path: '/v2/repository/models/simple/load', scope: 'models:admin' },
];

describe('REST binding: security', function () {
  this.timeout(120_000);
  let repo: string;

  before(() => {
    repo = writeRepository({ simple: simpleModel() });
  });

  after(() => removeFolder(repo));

  describe('with bearer tokens and JWTs (--auth-tokens, --auth-jwks)', () => {
    let files: ReturnType<typeof writeFiles>;
    let t: TestServer;
    let jwtFor: (scope: string) => Promise<string>;
    const call = (route: (typeof ROUTES)[number], token?: string): Promise<RestResponse> =>
      rest(t.server.httpPort, route.method, route.path, { body: route.body, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

    before(async () => {
      const pair = await generateKeyPair('ES256');
      const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
      jwtFor = (scope) =>
        new SignJWT({ scope }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('user-7').setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime(Math.floor(Date.now() / 1000) + 300).sign(pair.privateKey);
      const access = [
        'tokens:',
        `  - { name: predictor, sha256: ${sha256(PREDICT)}, scopes: [predict] }`,
        `  - { name: reader, sha256: ${sha256(READ)}, scopes: [models:read] }`,
        `  - { name: admin, sha256: ${sha256(ADMIN)}, scopes: [models:admin] }`,
      ].join('\n');
      files = writeFiles({ 'access.yaml': `${access}\n`, 'jwks.json': JSON.stringify(jwks) });
      t = await startServer(repo, { authTokens: files.file('access.yaml'), authJwks: files.file('jwks.json'), authJwtIssuer: ISSUER, authJwtAudience: AUDIENCE });
    });

    after(async () => {
      await t?.close();
      removeFolder(files.dir);
    });

    const TOKEN_FOR = { predict: PREDICT, 'models:read': READ, 'models:admin': ADMIN } as const;
    const NAME_FOR = { predict: 'predictor', 'models:read': 'reader', 'models:admin': 'admin' } as const;

    for (const route of ROUTES) {
      if (route.scope === 'open') {
        it(`${route.method} ${route.path} is open to probes: 200 without credentials`, async () => {
          expect((await call(route)).status).to.equal(200);
        });
        continue;
      }
      const scope = route.scope;
      it(`${route.method} ${route.path} needs "${scope}": 401 without credentials, 403 without the scope, 200 with it`, async () => {
        const anonymous = await call(route);
        expect([anonymous.status, anonymous.headers['www-authenticate'], errorOf(anonymous)]).to.deep.equal([401, 'Bearer', 'this call needs credentials: send the metadata "authorization: Bearer <token>"']);
        const other = scope === 'predict' ? 'models:read' : 'predict';
        const denied = await call(route, TOKEN_FOR[other]);
        const template = route.path.replace('/simple', '/{model}');
        expect([denied.status, errorOf(denied)]).to.deep.equal([403, `token "${NAME_FOR[other]}" lacks the scope "${scope}", which ${route.method} ${template} needs`]);
        const allowed = await call(route, TOKEN_FOR[scope]);
        expect(allowed.status, allowed.body.toString()).to.equal(200);
      });
    }

    it('refuses a wrong token 401 before reading the body, and takes a JWT with the scope in its claim', async () => {
      const infer = ROUTES.find((r) => r.scope === 'predict')!;
      // Announces 10 MB and sends none of it: answered at once, from the headers alone.
      const wrong = await rest(t.server.httpPort, 'POST', infer.path, { headers: { authorization: 'Bearer not-a-listed-token', 'content-length': 10_000_000 } });
      expect([wrong.status, wrong.headers['connection'], errorOf(wrong)]).to.deep.equal([401, 'close', 'the bearer token is not valid']);
      expect((await call(infer, await jwtFor('predict models:read'))).status).to.equal(200);
      const denied = await call(infer, await jwtFor('models:read'));
      expect([denied.status, errorOf(denied)]).to.deep.equal([403, 'jwt "user-7" lacks the scope "predict", which POST /v2/models/{model}/infer needs']);
    });
  });

  describe('with mutual TLS (--tls-client-ca)', () => {
    const ca = makeAuthority('inferd test CA');
    const serverCert = issue(ca, { commonName: 'inferd', ips: ['127.0.0.1'], dns: ['localhost'] });
    const client = issue(ca, { commonName: 'client-a' });
    let tlsFiles: ReturnType<typeof writeFiles>;
    let t: TestServer;
    const tls = (withCert: boolean): RestOptions['tls'] => ({ ca: ca.cert, ...(withCert ? { cert: client.cert, key: client.key } : {}) });

    before(async () => {
      tlsFiles = writeFiles({ 'server.crt': serverCert.cert, 'server.key': serverCert.key, 'ca.crt': ca.cert });
      t = await startServer(repo, { tlsCert: tlsFiles.file('server.crt'), tlsKey: tlsFiles.file('server.key'), tlsClientCa: tlsFiles.file('ca.crt') });
    });

    after(async () => {
      await t?.close();
      removeFolder(tlsFiles.dir);
    });

    it('serves HTTPS: health to probes without a certificate, everything else only with one the client CA signed', async () => {
      const port = t.server.httpPort;
      expect((await rest(port, 'GET', '/v2/health/ready', { tls: tls(false) })).status).to.equal(200);
      const refused = await rest(port, 'POST', '/v2/models/simple/infer', { body: SIMPLE_BODY, tls: tls(false) });
      expect([refused.status, errorOf(refused)]).to.deep.equal([401, 'a client certificate signed by the client CA is needed']);
      const answered = await rest(port, 'POST', '/v2/models/simple/infer', { body: SIMPLE_BODY, tls: tls(true) });
      expect(answered.status).to.equal(200);
      expect((JSON.parse(answered.body.toString()) as { outputs: { data: number[] }[] }).outputs[0]!.data).to.deep.equal(RANGE16.map((i) => 2 * i));
    });
  });
});
