import { Cron } from 'croner';
import type { Logger } from 'pino';
import type { BatchSpec } from '../job';
import type { WallClock } from '../wall-clock';

/**
 * A batch job the configuration runs on a cron expression. In its outputUri, "{time}" becomes
 * the run's time, e.g. 20240102T020000Z, so that runs do not overwrite each other.
 */
export interface Schedule extends BatchSpec {
  /** Names the schedule in logs and in its jobs' `schedule`. */
  readonly name: string;
  /** Five fields (minute hour day-of-month month day-of-week), or six with seconds first. */
  readonly cron: string;
  /** IANA time zone the expression is read in; "" for the server's own. */
  readonly timezone: string;
  readonly callbackUrl: string;
}

export interface CronSchedulesOptions {
  readonly schedules: readonly Schedule[];
  readonly clock: WallClock;
  readonly log: Logger;
  /** Starts one run of a schedule, due at `dueMs`. Errors are logged, and the schedule goes on. */
  readonly run: (schedule: Schedule, dueMs: number) => Promise<void>;
}

/** Timers are set at most this far ahead and then set again, so that a clock change is noticed. */
const MAX_WAIT_MS = 3_600_000;

/**
 * Runs each schedule at the times its cron expression names, from start() to close(). A time
 * that passed while the server was down is not made up for.
 */
export class CronSchedules {
  private readonly timers = new Map<string, unknown>();
  private readonly crons: Map<string, Cron>;
  private closed = false;

  /** Throws an Error saying what is wrong when `cron` (in `timezone`, "" for local) is not an expression croner takes. */
  static check(cron: string, timezone: string): void {
    new Cron(cron, { paused: true, ...(timezone === '' ? {} : { timezone }) });
  }

  constructor(private readonly options: CronSchedulesOptions) {
    this.crons = new Map(
      options.schedules.map((s) => [
        s.name,
        new Cron(s.cron, { paused: true, ...(s.timezone === '' ? {} : { timezone: s.timezone }) }),
      ]),
    );
  }

  start(): void {
    for (const s of this.options.schedules) this.plan(s, this.options.clock.now());
  }

  /** When a schedule next runs (ms since the epoch), or undefined when it never does again. */
  next(name: string, afterMs: number): number | undefined {
    return this.crons.get(name)?.nextRun(new Date(afterMs))?.getTime();
  }

  /** Clears every timer. Safe to call twice. */
  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) this.options.clock.clearTimeout(t);
    this.timers.clear();
  }

  private plan(s: Schedule, afterMs: number): void {
    if (this.closed) return;
    const due = this.next(s.name, afterMs);
    if (due === undefined) return;
    this.wait(s, due);
  }

  private wait(s: Schedule, due: number): void {
    const { clock, log } = this.options;
    const ms = due - clock.now();
    this.timers.set(
      s.name,
      clock.setTimeout(
        () => {
          if (this.closed) return;
          if (clock.now() < due) return this.wait(s, due);
          log.info({ schedule: s.name, dueMs: due }, 'schedule due');
          this.options
            .run(s, due)
            .catch((err: unknown) => log.error({ err, schedule: s.name }, 'scheduled run failed to start'));
          this.plan(s, Math.max(due, clock.now()));
        },
        Math.max(0, Math.min(ms, MAX_WAIT_MS)),
      ),
    );
  }
}
