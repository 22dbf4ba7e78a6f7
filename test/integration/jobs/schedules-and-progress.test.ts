import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import { parseServeConfig } from '../../../src/config';
import { CronSchedules, type Schedule } from '../../../src/jobs/schedules/cron-schedules';
import { ProgressReporter } from '../../../src/jobs/progress-reporter';
import { parseJobStoreUrl } from '../../../src/jobs/store/job-store-url';
import { configProblems as problems } from '../../support/config-problems';
import { FakeWallClock } from '../../support/fake-wall-clock';
import { removeFolder } from '../../support/test-server';

const schedule = (name: string, cron: string): Schedule => ({
  name, cron, timezone: 'UTC', modelName: 'm', modelVersion: '', inputUri: 'in.jsonl', outputUri: 'out.jsonl', batchSize: 0, inputColumns: [], outputNames: [], callbackUrl: '',
});

describe('CronSchedules', () => {
  it('runs each schedule at the times its expression names, on the injected clock, and stops at close()', () => {
    const clock = new FakeWallClock(Date.UTC(2026, 0, 1, 0, 30));
    const runs: string[] = [];
    const schedules = new CronSchedules({
      schedules: [schedule('nightly', '0 2 * * *'), schedule('quarter-hourly', '*/15 * * * *')],
      clock,
      log: pino({ level: 'silent' }),
      run: async (s, dueMs) => void runs.push(`${s.name} ${new Date(dueMs).toISOString()}`),
    });
    schedules.start();
    clock.advance(2 * 3_600_000); // to 02:30
    expect(runs).to.deep.equal([
      'quarter-hourly 2026-01-01T00:45:00.000Z',
      'quarter-hourly 2026-01-01T01:00:00.000Z',
      'quarter-hourly 2026-01-01T01:15:00.000Z',
      'quarter-hourly 2026-01-01T01:30:00.000Z',
      'quarter-hourly 2026-01-01T01:45:00.000Z',
      'nightly 2026-01-01T02:00:00.000Z',
      'quarter-hourly 2026-01-01T02:00:00.000Z',
      'quarter-hourly 2026-01-01T02:15:00.000Z',
      'quarter-hourly 2026-01-01T02:30:00.000Z',
    ]);
    runs.length = 0;
    clock.advance(24 * 3_600_000);
    expect(runs.filter((r) => r.startsWith('nightly'))).to.deep.equal(['nightly 2026-01-02T02:00:00.000Z']);
    schedules.close();
    runs.length = 0;
    clock.advance(24 * 3_600_000);
    expect(runs).to.deep.equal([]);
    expect(clock.pending).to.equal(0);
  });
});

describe('ProgressReporter', () => {
  it('draws a bar with the rows done, the rate since it started and the time left, in place on a terminal', () => {
    let now = 1000;
    let out = '';
    const reporter = new ProgressReporter({ tty: true, columns: 120, everyMs: 5000, now: () => now, write: (t) => (out += t) });
    reporter.update({ state: 'RUNNING', total: 0, processed: 0, failed: 0 }); // input not read through yet
    expect(out).to.equal('');
    reporter.update({ state: 'RUNNING', total: 1000, processed: 200, failed: 0 }); // resumed at 200
    now += 2000;
    reporter.update({ state: 'RUNNING', total: 1000, processed: 600, failed: 3 });
    expect(out).to.equal(
      '\r\x1b[2K[#####-------------------] 20% 200/1000 rows, 0 rows/s, ETA ?' +
        '\r\x1b[2K[##############----------] 60% 600/1000 rows, 200 rows/s, ETA 0:02, 3 failed',
    );
    reporter.done();
    expect(out.endsWith('\n')).to.equal(true);
  });

  it('writes plain lines, at most one per interval and always the last, when not on a terminal', () => {
    let now = 0;
    const lines: string[] = [];
    const reporter = new ProgressReporter({ tty: false, columns: 80, everyMs: 5000, now: () => now, write: (t) => lines.push(t) });
    for (let done = 0; done <= 100; done += 10) {
      reporter.update({ state: 'RUNNING', total: 100, processed: done, failed: 0 });
      now += 1000;
    }
    expect(lines).to.deep.equal(['0% 0/100 rows, 0 rows/s, ETA ?\n', '50% 50/100 rows, 10 rows/s, ETA 0:05\n', '100% 100/100 rows, 10 rows/s, ETA 0:00\n']);
  });
});

describe('job configuration', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'inferd-jobs-config-'));
  });

  after(() => removeFolder(dir));

  it('defaults: jobs in ./data for a week, one batch job at a time, no callbacks', () => {
    expect(parseServeConfig({ argv: [], env: {} })).to.deep.include({ dataDir: 'data', jobRetentionHours: 168, maxBatchJobs: 1, webhookAllow: [], webhookSecret: '', schedules: [] });
  });

  it('keeps jobs in <data-dir>/jobs.sqlite with a 30 s lease by default; takes the store from INFERD_JOB_STORE, the replica id and the lease from flags', () => {
    expect(parseServeConfig({ argv: [], env: {} })).to.deep.include({ jobStore: '', replicaId: '', jobLeaseMs: 30_000 });
    const c = parseServeConfig({ argv: ['--replica-id', 'pod-a', '--job-lease-ms', '5000'], env: { INFERD_JOB_STORE: 'postgres://u:pw@db:5432/jobs' } });
    expect(c).to.deep.include({ jobStore: 'postgres://u:pw@db:5432/jobs', replicaId: 'pod-a', jobLeaseMs: 5000 });
    expect(parseJobStoreUrl('', 'data', 'jobs.sqlite')).to.deep.equal({ kind: 'sqlite', file: path.join('data', 'jobs.sqlite') });
    expect(parseJobStoreUrl('postgresql://u:p@ss@db/jobs', 'data', 'x')).to.deep.equal({ kind: 'postgres', url: 'postgresql://u:p@ss@db/jobs', safe: 'postgresql://u:***@db/jobs', host: 'db', port: 5432 });
  });

  it('refuses a job store URL it cannot read, a lease out of range, and never shows the password', () => {
    expect(problems(() => parseServeConfig({ argv: ['--job-lease-ms', '50'], env: { INFERD_JOB_STORE: 'mysql://u:hunter2@db/jobs' } }))).to.deep.equal([
      '--job-lease-ms: expected a whole number from 100 to 3600000, got "50"',
      '--job-store: expected sqlite:PATH or postgres://user:password@host:port/database, got "mysql://u:***@db/jobs"',
    ]);
  });

  it('takes the callback allow-list from a flag and the secret from INFERD_WEBHOOK_SECRET', () => {
    const c = parseServeConfig({ argv: ['--webhook-allow', 'hooks.example.com, 10.0.0.7:8443'], env: { INFERD_WEBHOOK_SECRET: 's' } });
    expect(c).to.deep.include({ webhookAllow: ['hooks.example.com', '10.0.0.7:8443'], webhookSecret: 's' });
  });

  it('reads schedules from the --config file', () => {
    const file = path.join(dir, 'ok.json');
    writeFileSync(
      file,
      JSON.stringify({
        schedules: [
          { name: 'nightly', cron: '0 2 * * *', modelName: 'tiny_mlp', inputUri: 'in.csv', outputUri: 'out/{time}.jsonl', batchSize: 128 },
          { name: 'strict', cron: '0 3 * * *', modelName: 'tiny_mlp', inputUri: 'in.csv', outputUri: 'strict/{time}.jsonl', maxBadRecords: 0 },
        ],
      }),
    );
    expect(parseServeConfig({ argv: ['--config', file], env: {} }).schedules).to.deep.equal([
      { name: 'nightly', cron: '0 2 * * *', timezone: '', modelName: 'tiny_mlp', modelVersion: '', inputUri: 'in.csv', outputUri: 'out/{time}.jsonl', batchSize: 128, inputColumns: [], outputNames: [], callbackUrl: '' },
      { name: 'strict', cron: '0 3 * * *', timezone: '', modelName: 'tiny_mlp', modelVersion: '', inputUri: 'in.csv', outputUri: 'strict/{time}.jsonl', batchSize: 0, inputColumns: [], outputNames: [], callbackUrl: '', maxBadRecords: 0 },
    ]);
  });

  it('reports every problem of the job options and schedules at once', () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        schedules: [
          { name: 'a', cron: '61 * * * *', modelName: 'm', inputUri: 'in.jsonl', outputUri: 'out.txt' },
          { name: 'a', cron: '* * * * *', modelName: '', inputUri: 'in.jsonl', outputUri: 'o.jsonl', batchSize: -1, maxBadRecords: -1, colour: 'red' },
          { name: 'b', cron: '0 * * * *', modelName: 'm', inputUri: 'in.jsonl', outputUri: 'o.jsonl', callbackUrl: 'http://elsewhere.example/h' },
        ],
      }),
    );
    expect(problems(() => parseServeConfig({ argv: ['--config', file, '--webhook-allow', 'ok.example,bad host'], env: {} }))).to.deep.equal([
      `${file}: schedules[0].cron: expected a cron expression, got "61 * * * *" (CronPattern: Invalid value for minute: 61)`,
      `${file}: schedules[0].outputUri: expected a batch output, got "out.txt" (output "out.txt": expected a .jsonl, .ndjson or .csv file, sqlite:PATH#TABLE or postgres:TABLE)`,
      `${file}: schedules[1].colour: expected a known field (name, cron, timezone, modelName, modelVersion, inputUri, outputUri, batchSize, inputColumns, outputNames, maxBadRecords, callbackUrl), got an unknown field`,
      `${file}: schedules[1].name: expected a name no earlier schedule has, got "a"`,
      `${file}: schedules[1].batchSize: expected a whole number from 1 to 65536 (0 or none: 64), got -1`,
      `${file}: schedules[1].maxBadRecords: expected a whole number from 0 to 4294967295 (none: no limit), got -1`,
      `${file}: schedules[1].modelName: expected a non-empty string, got ""`,
      '--webhook-allow: expected host[:port] entries, got "bad host"',
      '--webhook-secret: expected a secret to sign callbacks with, since --webhook-allow is set (prefer INFERD_WEBHOOK_SECRET), got none',
      `${file}: schedules[2].callbackUrl: expected a URL on a host --webhook-allow allows, got "http://elsewhere.example/h" (callback_url host "elsewhere.example" is not allowed: the server allows ok.example)`,
    ]);
  });
});
