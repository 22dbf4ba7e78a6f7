import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { simpleModel } from '../../../src/example-models/example-models';
import { issue, makeAuthority } from '../../support/certs';
import { runInferd, type Run } from '../../support/run-inferd';
import { writeFiles } from '../../support/secure-clients';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';

/** Runs `inferd bench ...args` to its end with no INFERD_* variables but `env`. */
function bench(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return runInferd(['bench', ...args], { env, timeoutMs: 60_000 });
}

interface Level {
  readonly concurrency: number;
  readonly requestsPerSecond: number;
  readonly errors: number;
}

describe('inferd bench', function () {
  this.timeout(60_000);
  const TOKEN = randomBytes(24).toString('base64url');
  const ca = makeAuthority('inferd test CA');
  const serverCert = issue(ca, { commonName: 'localhost', dns: ['localhost'] });
  let repo: string;
  let keys: ReturnType<typeof writeFiles>;
  let plain: TestServer;
  let secured: TestServer;

  before(async () => {
    repo = writeRepository({ simple: simpleModel() });
    const digest = createHash('sha256').update(TOKEN).digest('hex');
    keys = writeFiles({ 'ca.crt': ca.cert, 'server.crt': serverCert.cert, 'server.key': serverCert.key, 'access.yaml': `tokens:\n  - { name: bench, sha256: ${digest}, scopes: [predict, models:read] }\n` });
    plain = await startServer(repo);
    secured = await startServer(repo, { tlsCert: keys.file('server.crt'), tlsKey: keys.file('server.key'), authTokens: keys.file('access.yaml') });
  });

  after(async () => {
    await plain?.close();
    await secured?.close();
    removeFolder(repo);
    removeFolder(keys.dir);
  });

  it('loads a running server at each concurrency level and reports each as JSON', async () => {
    const run = await bench({}, '--model', 'simple', '--server', plain.address, '--concurrency', '1,2', '--duration-s', '1', '--warmup-s', '0', '--json');
    expect(run.code, run.stderr).to.equal(0);
    const report = JSON.parse(run.stdout) as { model: string; mode: string; rowsPerRequest: number; inferd: Level[] };
    expect(report).to.deep.include({ model: 'simple', mode: 'unary', rowsPerRequest: 1 });
    expect(report.inferd.map((l) => [l.concurrency, l.errors])).to.deep.equal([[1, 0], [2, 0]]);
    expect(report.inferd.every((l) => l.requestsPerSecond > 0)).to.equal(true);
  });

  it('measures inferd/client (--client sdk) beside the raw grpc-js path in the same run, unary and stream, and gives the ratio', async () => {
    for (const mode of ['unary', 'stream']) {
      const run = await bench({}, '--model', 'simple', '--server', plain.address, '--mode', mode, '--client', 'raw,sdk', '--rounds', '2', '--concurrency', '4', '--duration-s', '0.5', '--warmup-s', '0', '--json');
      expect(run.code, run.stderr).to.equal(0);
      const report = JSON.parse(run.stdout) as { client: string[]; rounds: number; raw: (Level & { rounds: number[] })[]; sdk: (Level & { rounds: number[] })[]; sdkToRaw: number[] };
      expect([report.client, report.rounds]).to.deep.equal([['raw', 'sdk'], 2]);
      for (const levels of [report.raw, report.sdk]) {
        expect(levels.map((l) => [l.concurrency, l.errors, l.rounds.length])).to.deep.equal([[4, 0, 2]]);
        expect(levels[0]!.requestsPerSecond).to.be.greaterThan(0);
      }
      expect(report.sdkToRaw).to.deep.equal([report.sdk[0]!.requestsPerSecond / report.raw[0]!.requestsPerSecond]);
    }
    const usage = await bench({}, '--model', 'simple', '--server', plain.address, '--client', 'raw,grpc', '--rounds', '0');
    expect([usage.code, usage.stderr]).to.deep.equal([2, 'inferd bench: --client: unknown client "grpc" (raw, sdk)\n  --rounds: expected a whole number ≥ 1, got "0"\n']);
  });

  it('loads a server with TLS and tokens, given --tls-ca and INFERD_TOKEN', async () => {
    const run = await bench({ INFERD_TOKEN: TOKEN }, '--model', 'simple', '--server', `localhost:${secured.server.port}`, '--tls-ca', keys.file('ca.crt'), '--client', 'raw,sdk', '--concurrency', '2', '--duration-s', '1', '--warmup-s', '0', '--json');
    expect(run.code, run.stderr).to.equal(0);
    const report = JSON.parse(run.stdout) as { inferd: Level[] };
    expect(report.inferd.map((l) => l.errors)).to.deep.equal([0]);
    expect(report.inferd[0]!.requestsPerSecond).to.be.greaterThan(0);
  });

  it('exits 1 with the server\'s reason without a token, and 2 for TLS flags without --server', async () => {
    const refused = await bench({}, '--model', 'simple', '--server', `localhost:${secured.server.port}`, '--tls-ca', keys.file('ca.crt'), '--concurrency', '1', '--duration-s', '1');
    expect([refused.code, refused.stderr]).to.deep.equal([1, 'inferd bench: UNAUTHENTICATED: this call needs credentials: send the metadata "authorization: Bearer <token>"\n']);
    const usage = await bench({}, '--model', 'simple', '--models', repo, '--tls-ca', keys.file('ca.crt'));
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.equal('inferd bench: --tls-ca, --tls-cert and --tls-key are for --server\n');
  });
});
