/**
 * Fails when generated/ is not what `npm run generate` writes from proto/ now: regenerates into
 * a scratch folder and compares file by file. Run by `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';

function files(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

const buf = path.join(PACKAGE_ROOT, 'node_modules', '.bin', 'buf');
const scratch = mkdtempSync(path.join(tmpdir(), 'inferd-generated-'));
try {
  execFileSync(buf, ['generate', '--output', scratch], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
  execFileSync(buf, ['build', '-o', path.join(scratch, 'generated', 'inferd.binpb')], {
    cwd: PACKAGE_ROOT,
    stdio: 'inherit',
  });
  const fresh = path.join(scratch, 'generated');
  const committed = path.join(PACKAGE_ROOT, 'generated');
  const want = files(fresh).sort();
  const have = files(committed).sort();
  const stale = [
    ...want.filter((f) => !have.includes(f)).map((f) => `missing: generated/${f}`),
    ...have.filter((f) => !want.includes(f)).map((f) => `not generated from proto/: generated/${f}`),
    ...want
      .filter(
        (f) => have.includes(f) && !readFileSync(path.join(fresh, f)).equals(readFileSync(path.join(committed, f))),
      )
      .map((f) => `differs: generated/${f}`),
  ];
  if (stale.length > 0) {
    process.stderr.write(
      `generated/ is out of date with proto/ (run npm run generate and commit):\n  ${stale.join('\n  ')}\n`,
    );
    process.exitCode = 1;
  } else {
    process.stdout.write(`generated/ is up to date (${want.length} files)\n`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
