import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { expect } from 'chai';

/**
 * A process logging through a LogDestination on its stdout (a pipe to this test): it logs
 * "first", and once told on stdin, logs two lines more and exits at once. `onLost` notes the
 * error on stderr.
 */
function logger(format: 'json' | 'pretty') {
  const script = `
    const pino = require(${JSON.stringify(require.resolve('pino'))});
    const { LogDestination } = require(${JSON.stringify(require.resolve('../../../src/telemetry/log-destination'))});
    const log = pino({ base: null }, new LogDestination({ fd: 1, format: ${JSON.stringify(format)}, colorize: false, onLost: (err) => process.stderr.write('lost: ' + err.code + '\\n') }));
    log.info('first');
    process.stdin.once('data', () => {
      log.info('second');
      log.info({ n: 3 }, 'third');
      process.exit(0);
    });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, stderr: () => stderr };
}

describe('LogDestination', () => {
  for (const format of ['json', 'pretty'] as const) {
    describe(`(${format})`, () => {
      it('writes each line before the call returns, so that a process exiting at once has written them all', async () => {
        const p = logger(format);
        const lines: string[] = [];
        createInterface({ input: p.child.stdout }).on('line', (l) => lines.push(l));
        p.child.stdin.end('go\n');
        const closed = once(p.child.stdout, 'close');
        expect(await p.exited).to.deep.equal([0, null]);
        await closed;
        const messages =
          format === 'json'
            ? lines.map((l) => (JSON.parse(l) as { msg: string }).msg)
            : lines.map((l) => /^\[[\d:.]+\] INFO: (.*)$/.exec(l)![1]);
        expect(messages).to.deep.equal(['first', 'second', format === 'json' ? 'third' : 'third {"n":3}']);
        expect(p.stderr()).to.equal('');
      });

      it('drops the lines logged once the reader of its pipe is gone, says so once, and lets the process exit at once', async () => {
        const p = logger(format);
        const [first] = (await once(createInterface({ input: p.child.stdout }), 'line')) as [string];
        expect(first).to.include('first');
        p.child.stdout.destroy(); // the reader is gone: the next write fails with EPIPE
        p.child.stdin.end('go\n');
        expect(await p.exited).to.deep.equal([0, null]);
        expect(p.stderr()).to.equal('lost: EPIPE\n');
      });
    });
  }
});
