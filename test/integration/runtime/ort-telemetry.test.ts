import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../../src/package-root';

const run = promisify(execFile);
const SESSION_MODULE = path.join(PACKAGE_ROOT, 'dist', 'src', 'runtime', 'ort-session.js');
const MODEL = path.join(PACKAGE_ROOT, 'models', 'tiny_mlp', '1', 'model.onnx');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

/** Opens and runs a real session in a process of its own with HOME and TMPDIR in fresh folders; the files left in each. */
async function filesLeftBySession(telemetry: string | undefined): Promise<{ home: string[]; tmp: string[] }> {
  const home = mkdtempSync(path.join(tmpdir(), 'inferd-home-'));
  const tmp = mkdtempSync(path.join(tmpdir(), 'inferd-tmp-'));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, TMPDIR: tmp };
    delete env['ORT_DISABLE_TELEMETRY'];
    if (telemetry !== undefined) env['ORT_DISABLE_TELEMETRY'] = telemetry;
    const script = `require(${JSON.stringify(SESSION_MODULE)}).openSession(${JSON.stringify(MODEL)}, { intraOpThreads: 1, interOpThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' }).then(() => console.log('opened'))`;
    const { stdout } = await run(process.execPath, ['-e', script], { env });
    expect(stdout).to.equal('opened\n');
    return { home: filesUnder(home), tmp: filesUnder(tmp) };
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

describe("ONNX Runtime's telemetry", function () {
  this.timeout(60_000);

  it('is off by default: a session leaves nothing under HOME or TMPDIR', async () => {
    expect(await filesLeftBySession(undefined)).to.deep.equal({ home: [], tmp: [] });
  });

  it('stays as ONNX Runtime has it when the environment says ORT_DISABLE_TELEMETRY=0', async () => {
    const left = await filesLeftBySession('0');
    expect(left.home.length + left.tmp.length).to.be.greaterThan(0);
  });
});
