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
  readonly clientCpuMsPerRequest: number;
  readonly serverCpuMsPerRequest?: number;
  readonly requestBytes: number;
  readonly answerBytes: number;
  readonly rounds?: number[];
}

interface LimitReport {
  readonly mode: string;
  readonly inferd: Level[];
  readonly echo: Level[];
  readonly limit: {
    cores: number;
    requestBytes: number;
    answerBytes: number;
    transport: Level[];
    runCpuMs: number;
    floorMsPerRequest: number[];
    limitPerSecond: number[];
  };
  readonly ratioToLimit: number[];
  readonly cpuToFloor: number[];
  readonly ratioToEcho: number[];
  readonly ratioToEchoByRound: number[][];
  readonly ratioToLimitByRound: number[][];
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
    keys = writeFiles({
      'ca.crt': ca.cert,
      'server.crt': serverCert.cert,
      'server.key': serverCert.key,
      'access.yaml': `tokens:\n  - { name: bench, sha256: ${digest}, scopes: [predict, models:read] }\n`,
    });
    plain = await startServer(repo);
    secured = await startServer(repo, {
      tlsCert: keys.file('server.crt'),
      tlsKey: keys.file('server.key'),
      authTokens: keys.file('access.yaml'),
    });
  });

  after(async () => {
    await plain?.close();
    await secured?.close();
    removeFolder(repo);
    removeFolder(keys.dir);
  });

  it('loads a running server at each concurrency level and reports each as JSON, with the CPU a request cost the client and, given --server-pid, the server', async () => {
    // The server runs in this test's process: its CPU is this process's.
    const run = await bench(
      {},
      '--model',
      'simple',
      '--server',
      plain.address,
      '--server-pid',
      String(process.pid),
      '--concurrency',
      '1,2',
      '--duration-s',
      '1',
      '--warmup-s',
      '0',
      '--json',
    );
    expect(run.code, run.stderr).to.equal(0);
    const report = JSON.parse(run.stdout) as { model: string; mode: string; rowsPerRequest: number; inferd: Level[] };
    expect(report).to.deep.include({ model: 'simple', mode: 'unary', rowsPerRequest: 1 });
    expect(report.inferd.map((l) => [l.concurrency, l.errors])).to.deep.equal([
      [1, 0],
      [2, 0],
    ]);
    expect(report.inferd.every((l) => l.requestsPerSecond > 0)).to.equal(true);
    for (const l of report.inferd)
      expect([l.clientCpuMsPerRequest > 0, l.serverCpuMsPerRequest! > 0], JSON.stringify(l)).to.deep.equal([
        true,
        true,
      ]);

    const unknown = await bench(
      {},
      '--model',
      'simple',
      '--server',
      plain.address,
      '--concurrency',
      '1',
      '--duration-s',
      '0.2',
      '--warmup-s',
      '0',
      '--json',
    );
    const levels = (JSON.parse(unknown.stdout) as { inferd: Level[] }).inferd;
    expect(levels.map((l) => [l.clientCpuMsPerRequest > 0, 'serverCpuMsPerRequest' in l])).to.deep.equal([
      [true, false],
    ]);
  });

  for (const mode of ['unary', 'stream']) {
    it(`gives, with --baseline limit (${mode}), the floor of a request (bare transport of the same bytes + one in-process run) and the machine's limit (cores / floor), beside the echo, round by round`, async () => {
      const run = await bench(
        {},
        '--model',
        'simple',
        '--models',
        repo,
        '--mode',
        mode,
        '--baseline',
        'echo,limit',
        '--rounds',
        '2',
        '--concurrency',
        '2',
        '--duration-s',
        '0.5',
        '--warmup-s',
        '0',
        '--json',
      );
      expect(run.code, run.stderr).to.equal(0);
      const report = JSON.parse(run.stdout) as LimitReport;
      const [inferd, echo, transport] = [report.inferd[0]!, report.echo[0]!, report.limit.transport[0]!];
      // Every scenario: client and server CPU per request, from each process's own counters.
      for (const l of [inferd, echo, transport]) {
        expect([l.errors, l.clientCpuMsPerRequest > 0, l.serverCpuMsPerRequest! > 0], JSON.stringify(l)).to.deep.equal([
          0,
          true,
          true,
        ]);
      }
      // The floor's transport carries inferd's bytes: the same request in, an answer of inferd's answer's size out.
      expect([
        transport.requestBytes,
        transport.answerBytes,
        report.limit.requestBytes,
        report.limit.answerBytes,
      ]).to.deep.equal([inferd.requestBytes, inferd.answerBytes, inferd.requestBytes, inferd.answerBytes]);
      // The echo answers each message with itself (on a stream, later messages carry longer ids than the first).
      if (mode === 'unary') expect(echo.answerBytes).to.equal(echo.requestBytes);
      else expect(echo.answerBytes).to.be.within(echo.requestBytes, echo.requestBytes + 10);
      expect(report.limit.runCpuMs).to.be.greaterThan(0);
      const floor = transport.clientCpuMsPerRequest + transport.serverCpuMsPerRequest! + report.limit.runCpuMs;
      expect(report.limit.floorMsPerRequest).to.deep.equal([floor]);
      expect(report.limit.limitPerSecond).to.deep.equal([(report.limit.cores * 1000) / floor]);
      expect(report.ratioToLimit).to.deep.equal([inferd.requestsPerSecond / report.limit.limitPerSecond[0]!]);
      expect(report.cpuToFloor).to.deep.equal([(inferd.clientCpuMsPerRequest + inferd.serverCpuMsPerRequest!) / floor]);
      // Rounds alternate inferd and its baselines; each round's ratio is between numbers seconds apart.
      expect([inferd.rounds!.length, echo.rounds!.length, transport.rounds!.length]).to.deep.equal([2, 2, 2]);
      expect(report.ratioToEcho).to.deep.equal([inferd.requestsPerSecond / echo.requestsPerSecond]);
      expect(report.ratioToEchoByRound).to.deep.equal([[0, 1].map((r) => inferd.rounds![r]! / echo.rounds![r]!)]);
      expect(report.ratioToLimitByRound[0]).to.have.length(2);
      for (const ratio of report.ratioToLimitByRound[0]!) expect(ratio).to.be.greaterThan(0);
    });
  }

  it('measures the REST binding (--protocol grpc,rest) in the same rounds as gRPC, each with the CPU its requests cost', async () => {
    const run = await bench(
      {},
      '--model',
      'simple',
      '--models',
      repo,
      '--protocol',
      'grpc,rest',
      '--rounds',
      '2',
      '--concurrency',
      '2',
      '--duration-s',
      '0.5',
      '--warmup-s',
      '0',
      '--json',
    );
    expect(run.code, run.stderr).to.equal(0);
    const report = JSON.parse(run.stdout) as { inferd: Level[]; rest: Level[]; restToGrpc: number[] };
    const [grpc, rest] = [report.inferd[0]!, report.rest[0]!];
    for (const l of [grpc, rest])
      expect(
        [l.errors, l.rounds!.length, l.clientCpuMsPerRequest > 0, l.serverCpuMsPerRequest! > 0],
        JSON.stringify(l),
      ).to.deep.equal([0, 2, true, true]);
    expect(report.restToGrpc).to.deep.equal([rest.requestsPerSecond / grpc.requestsPerSecond]);
  });

  it('prints the CPU columns and the floor as a table without --json', async () => {
    const run = await bench(
      {},
      '--model',
      'simple',
      '--models',
      repo,
      '--baseline',
      'limit',
      '--concurrency',
      '2',
      '--duration-s',
      '0.5',
      '--warmup-s',
      '0',
    );
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout.split('\n');
    expect(lines.filter((l) => l.includes('client CPU ms/req   server CPU ms/req'))).to.have.length(2); // inferd and the bare transport
    expect(
      lines.some(
        (l) => l.startsWith('bare grpc-js, unary: the same bytes in, answers of ') && l.endsWith(' bytes out'),
      ),
    ).to.equal(true);
    const head = lines.findIndex((l) =>
      l.startsWith('floor (CPU ms per request: bare transport, client + server, + one in-process run of '),
    );
    expect(head, run.stdout).to.be.greaterThan(0);
    expect(lines[head + 1]!.trim().split(/\s{2,}/)).to.deep.equal([
      'conc',
      'floor ms',
      'limit req/s',
      'inferd req/s',
      '/ limit',
      'inferd CPU ms/req',
      '/ floor',
    ]);
    const row = lines[head + 2]!.trim().split(/\s+/);
    expect([row.length, row[0]]).to.deep.equal([7, '2']);
  });

  it('refuses --baseline limit without --models or without the raw client, and --server-pid without --server', async () => {
    const usage = await bench(
      {},
      '--model',
      'simple',
      '--server',
      plain.address,
      '--baseline',
      'limit',
      '--client',
      'sdk',
      '--server-pid',
      'x',
    );
    expect([usage.code, usage.stderr]).to.deep.equal([
      2,
      'inferd bench: --baseline limit needs --models (it loads the model file itself)\n' +
        '  --baseline limit needs gRPC and the raw client (--protocol grpc or grpc,rest; --client raw or raw,sdk): it answers as many bytes as the raw client received\n' +
        '  --server-pid: expected the process id of the server given by --server, got "x"\n',
    ]);
    const noServer = await bench({}, '--model', 'simple', '--models', repo, '--server-pid', '1');
    expect([noServer.code, noServer.stderr]).to.deep.equal([
      2,
      'inferd bench: --server-pid: expected the process id of the server given by --server, got "1"\n',
    ]);
  });

  it('measures inferd/client (--client sdk) beside the raw grpc-js path in the same run, unary and stream, and gives the ratio', async () => {
    for (const mode of ['unary', 'stream']) {
      const run = await bench(
        {},
        '--model',
        'simple',
        '--server',
        plain.address,
        '--mode',
        mode,
        '--client',
        'raw,sdk',
        '--rounds',
        '2',
        '--concurrency',
        '4',
        '--duration-s',
        '0.5',
        '--warmup-s',
        '0',
        '--json',
      );
      expect(run.code, run.stderr).to.equal(0);
      const report = JSON.parse(run.stdout) as {
        client: string[];
        rounds: number;
        raw: (Level & { rounds: number[] })[];
        sdk: (Level & { rounds: number[] })[];
        sdkToRaw: number[];
      };
      expect([report.client, report.rounds]).to.deep.equal([['raw', 'sdk'], 2]);
      for (const levels of [report.raw, report.sdk]) {
        expect(levels.map((l) => [l.concurrency, l.errors, l.rounds.length])).to.deep.equal([[4, 0, 2]]);
        expect(levels[0]!.requestsPerSecond).to.be.greaterThan(0);
      }
      expect(report.sdkToRaw).to.deep.equal([report.sdk[0]!.requestsPerSecond / report.raw[0]!.requestsPerSecond]);
    }
    const usage = await bench(
      {},
      '--model',
      'simple',
      '--server',
      plain.address,
      '--client',
      'raw,grpc',
      '--rounds',
      '0',
    );
    expect([usage.code, usage.stderr]).to.deep.equal([
      2,
      'inferd bench: --client: unknown client "grpc" (raw, sdk)\n  --rounds: expected a whole number ≥ 1, got "0"\n',
    ]);
  });

  it('loads a server with TLS and tokens, given --tls-ca and INFERD_TOKEN', async () => {
    const run = await bench(
      { INFERD_TOKEN: TOKEN },
      '--model',
      'simple',
      '--server',
      `localhost:${secured.server.port}`,
      '--tls-ca',
      keys.file('ca.crt'),
      '--client',
      'raw,sdk',
      '--concurrency',
      '2',
      '--duration-s',
      '1',
      '--warmup-s',
      '0',
      '--json',
    );
    expect(run.code, run.stderr).to.equal(0);
    const report = JSON.parse(run.stdout) as { inferd: Level[] };
    expect(report.inferd.map((l) => l.errors)).to.deep.equal([0]);
    expect(report.inferd[0]!.requestsPerSecond).to.be.greaterThan(0);
  });

  it("exits 1 with the server's reason without a token, and 2 for TLS flags without --server", async () => {
    const refused = await bench(
      {},
      '--model',
      'simple',
      '--server',
      `localhost:${secured.server.port}`,
      '--tls-ca',
      keys.file('ca.crt'),
      '--concurrency',
      '1',
      '--duration-s',
      '1',
    );
    expect([refused.code, refused.stderr]).to.deep.equal([
      1,
      'inferd bench: UNAUTHENTICATED: this call needs credentials: send the metadata "authorization: Bearer <token>"\n',
    ]);
    const usage = await bench({}, '--model', 'simple', '--models', repo, '--tls-ca', keys.file('ca.crt'));
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.equal('inferd bench: --tls-ca, --tls-cert and --tls-key are for --server\n');
  });
});
