/** Progress as a batch job reports it. */
export interface Progress {
  readonly state: string;
  readonly total: number;
  readonly processed: number;
  readonly failed: number;
}

export interface ProgressReporterOptions {
  /** A terminal: one bar redrawn in place. Otherwise: a plain line every `everyMs`. */
  readonly tty: boolean;
  /** Columns of the terminal (for the bar). */
  readonly columns: number;
  readonly everyMs: number;
  /** Milliseconds, monotonic. */
  readonly now: () => number;
  readonly write: (text: string) => void;
}

const BAR = 24;

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/**
 * Shows a batch job's progress on the command line: on a terminal a bar with the rows done, the
 * rate and the time left, redrawn in place (at most every 100 ms); elsewhere (a log file, a
 * pipe) one plain line every `everyMs`. The rate counts the rows done since this reporter
 * started, so a resumed job's ETA is not thrown by the rows done before.
 */
export class ProgressReporter {
  private startMs: number | undefined;
  private startRows = 0;
  private lastMs = -Infinity;
  private drawn = false;

  constructor(private readonly options: ProgressReporterOptions) {}

  /** Takes the job's newest progress; draws when it is time to. */
  update(p: Progress): void {
    if (p.state !== 'RUNNING' || p.total === 0) return;
    const now = this.options.now();
    if (this.startMs === undefined) {
      this.startMs = now;
      this.startRows = p.processed;
    }
    const interval = this.options.tty ? 100 : this.options.everyMs;
    if (now - this.lastMs < interval && p.processed < p.total) return;
    this.lastMs = now;
    const line = this.line(p, now);
    if (this.options.tty) {
      this.options.write(`\r\x1b[2K${line.slice(0, Math.max(20, this.options.columns - 1))}`);
      this.drawn = true;
    } else {
      this.options.write(`${line}\n`);
    }
  }

  /** Ends the bar's line (on a terminal), before the summary. */
  done(): void {
    if (this.drawn) this.options.write('\n');
    this.drawn = false;
  }

  /** The progress as text: `[#####-----] 50% 500/1000 rows, 1234 rows/s, ETA 0:01, 2 failed`. */
  line(p: Progress, now: number): string {
    const fraction = p.total === 0 ? 1 : p.processed / p.total;
    const elapsedMs = now - (this.startMs ?? now);
    const rows = p.processed - this.startRows;
    const rate = elapsedMs > 0 ? (rows * 1000) / elapsedMs : 0;
    const eta = rate > 0 ? duration(((p.total - p.processed) / rate) * 1000) : '?';
    const filled = Math.round(fraction * BAR);
    const bar = this.options.tty ? `[${'#'.repeat(filled)}${'-'.repeat(BAR - filled)}] ` : '';
    const failed = p.failed > 0 ? `, ${p.failed} failed` : '';
    return `${bar}${Math.floor(fraction * 100)}% ${p.processed}/${p.total} rows, ${Math.round(rate)} rows/s, ETA ${eta}${failed}`;
  }
}
