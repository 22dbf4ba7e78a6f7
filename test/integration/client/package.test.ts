import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { tinyMlpModel } from '../../../src/example-models/example-models';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') reject(err);
      else resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
  });
}

/** The code blocks of the README's "Calling inferd from TypeScript" section, with the lines each says it prints. */
function readmeExamples(): { lang: 'ts' | 'js'; code: string; prints: string[] }[] {
  const readme = readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Calling inferd from TypeScript\n');
  expect(start, 'the README section').to.be.greaterThan(0);
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```(ts|js)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1] as 'ts' | 'js',
    code: m[2]!,
    prints: [...m[2]!.matchAll(/\/\/ prints: (.*)$/gm)].map((p) => p[1]!),
  }));
}

const version = (pkg: string): string =>
  (
    JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

describe('inferd/client from another project, installed from npm pack', function () {
  this.timeout(180_000);
  let work: string;
  let project: string;
  let repo: string;
  let data: string;
  let t: TestServer;

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'inferd-consumer-'));
    project = path.join(work, 'project');
    mkdirSync(project);
    // The built dist/ as it is: --ignore-scripts keeps `prepare` from building it again.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], PACKAGE_ROOT);
    expect(packed.code, packed.stderr).to.equal(0);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        version: '1.0.0',
        private: true,
        type: 'module',
        dependencies: { typescript: version('typescript'), '@types/node': version('@types/node') },
      }),
    );
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          target: 'es2022',
          types: ['node'],
          outDir: 'out',
          noEmitOnError: true,
        },
        include: ['*.ts'],
      }),
    );
    // inferd's dependencies are taken from this checkout's node_modules (hard links: no download,
    // no copy), so that npm only installs the tarball; the hidden lockfile is unlinked so that npm
    // writes no file this checkout shares.
    const linked = await run(
      'cp',
      ['-al', path.join(PACKAGE_ROOT, 'node_modules'), path.join(project, 'node_modules')],
      work,
    );
    expect(linked.code, linked.stderr).to.equal(0);
    rmSync(path.join(project, 'node_modules', '.package-lock.json'), { force: true });
    const installed = await run(
      'npm',
      [
        'install',
        `../${tarball}`,
        '--ignore-scripts',
        '--omit=dev',
        '--no-package-lock',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
      ],
      project,
    );
    expect(installed.code, installed.stderr).to.equal(0);

    repo = writeRepository({ tiny_mlp: tinyMlpModel() });
    data = mkdtempSync(path.join(tmpdir(), 'inferd-consumer-data-'));
    writeFileSync(
      path.join(data, 'in.jsonl'),
      [1, 2, 3].map((i) => `${JSON.stringify({ x: [i, 0, 1, 2] })}\n`).join(''),
    );
    t = await startServer(repo, { dataDir: data });
  });

  after(async () => {
    await t?.close();
    removeFolder(work);
    removeFolder(repo);
    removeFolder(data);
  });

  it("compiles the README's TypeScript examples with tsc --strict (ESM), and they and its CommonJS example print what the README says", async () => {
    const examples = readmeExamples();
    expect(examples.map((e) => e.lang)).to.deep.equal(['ts', 'ts', 'ts', 'js']);
    examples.forEach((e, i) =>
      writeFileSync(path.join(project, `example-${i + 1}.${e.lang === 'ts' ? 'ts' : 'cjs'}`), e.code),
    );
    const compiled = await run(
      process.execPath,
      [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project],
      project,
    );
    expect(compiled.code, compiled.stdout).to.equal(0);
    for (const [i, e] of examples.entries()) {
      const file = e.lang === 'ts' ? path.join('out', `example-${i + 1}.js`) : `example-${i + 1}.cjs`;
      const ran = await run(process.execPath, [file], project, {
        ...process.env,
        INFERD_ADDRESS: t.address,
        INFERD_TOKEN: '',
      });
      expect(ran.code, `example ${i + 1}: ${ran.stderr}`).to.equal(0);
      expect(ran.stdout, `example ${i + 1}`).to.equal(e.prints.map((p) => `${p}\n`).join(''));
    }
  });

  it("loads neither the server's code nor ONNX Runtime with inferd/client", async () => {
    const script = `require('inferd/client');
const loaded = Object.keys(require.cache).filter((f) => /onnxruntime|better-sqlite3|pino|prom-client|opentelemetry|[\\\\/]dist[\\\\/]src[\\\\/](repository|runtime|scheduler|jobs|transport|server)/.test(f));
console.log(JSON.stringify(loaded));`;
    writeFileSync(path.join(project, 'loaded.cjs'), script);
    const ran = await run(process.execPath, ['loaded.cjs'], project);
    expect([ran.code, ran.stdout]).to.deep.equal([0, '[]\n']);
  });
});
