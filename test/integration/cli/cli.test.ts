import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SERVE_OPTIONS } from '../../../src/config';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { runInferd, type Run } from '../../support/run-inferd';

/** Runs `inferd ...args` to its end, with no INFERD_* variables set, so only the arguments count. */
function inferd(...args: string[]): Promise<Run> {
  return runInferd(args, { timeoutMs: 15_000 });
}

describe('inferd command line', () => {
  it('--help prints the usage, naming each command and pointing to "inferd serve --help", and exits 0', async () => {
    const run = await inferd('--help');
    expect(run.code).to.equal(0);
    expect(run.stderr).to.equal('');
    expect(run.stdout).to.include('inferd serve [options]');
    expect(run.stdout).to.include('inferd --version');
    expect(run.stdout).to.include('"inferd serve --help"');
  });

  it('serve --help lists every option of the configuration, its environment variable and --config, and exits 0', async () => {
    const run = await inferd('serve', '--help');
    expect(run.code).to.equal(0);
    expect(run.stderr).to.equal('');
    expect(run.stdout).to.match(/^Usage: inferd serve \[options\]\n/);
    expect(run.stdout).to.match(/^ {2}--config FILE /m);
    for (const option of SERVE_OPTIONS) {
      expect(run.stdout).to.match(new RegExp(`^ {2}--${option.flag} `, 'm'), `--${option.flag}`);
      expect(run.stdout).to.include(`env ${option.env})`);
    }
  });

  it('serve with a bad value and an unknown flag reports both problems on stderr and exits 2', async () => {
    const run = await inferd('serve', '--port', 'abc', '--bogus', '1');
    expect(run.code).to.equal(2);
    expect(run.stdout).to.equal('');
    expect(run.stderr).to.equal('inferd serve: bad configuration:\n  --port: expected a whole number from 0 to 65535, got "abc"\n  --bogus: expected a flag of inferd serve (see inferd serve --help), got an unknown flag\n');
  });

  it('an unknown command is named on stderr, with the usage, and exits 2', async () => {
    const run = await inferd('frobnicate');
    expect(run.code).to.equal(2);
    expect(run.stdout).to.equal('');
    expect(run.stderr).to.match(/^inferd: unknown command "frobnicate"\n/);
    expect(run.stderr).to.include('inferd serve [options]');
  });

  it('no command at all prints the usage and exits 2', async () => {
    const run = await inferd();
    expect(run.code).to.equal(2);
    expect(run.stdout + run.stderr).to.include('inferd serve [options]');
  });

  describe('serve with a repository folder that does not exist', () => {
    let parent: string;

    before(() => {
      parent = mkdtempSync(path.join(tmpdir(), 'inferd-cli-'));
    });

    after(() => rmSync(parent, { recursive: true, force: true }));

    it('logs one fatal "cannot start" record naming the folder and exits 1', async () => {
      const missing = path.join(parent, 'no-such-folder');
      const run = await inferd('serve', '--models', missing, '--port', '0', '--http-port', '0');
      expect(run.code).to.equal(1);
      const records = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { level: number; msg: string; err: { message: string } });
      expect(records).to.have.length(1);
      expect(records[0]).to.include({ level: 60, msg: 'cannot start' });
      expect(records[0]!.err.message).to.match(new RegExp(`^cannot read the model repository ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT`));
    });
  });

  it("--version prints package.json's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    const run = await inferd('--version');
    expect(run.code).to.equal(0);
    expect(run.stdout).to.equal(`${version}\n`);
    expect(run.stderr).to.equal('');
  });
});
