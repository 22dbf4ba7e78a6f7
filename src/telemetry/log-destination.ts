import pino, { type DestinationStream } from 'pino';
import { prettyFactory } from 'pino-pretty';

export interface LogDestinationOptions {
  /** The file descriptor the lines go to: 1 (stdout) or 2 (stderr). Not closed by this. */
  readonly fd: number;
  /** json: pino's lines as they are; pretty: pino-pretty's readable lines (time, level, message, fields). */
  readonly format: 'json' | 'pretty';
  /** pretty only: ANSI colours. */
  readonly colorize: boolean;
  /** Called once, with the write error, when the output is lost; later lines are dropped. */
  readonly onLost?: (err: NodeJS.ErrnoException) => void;
}

/**
 * Where a pino logger's lines go: one synchronous write per line to a file descriptor, in-process
 * (no transport thread). Synchronous, so that nothing is left to flush when the process exits:
 * pino's default asynchronous destination flushes on 'exit', and its flush retries a write that
 * failed with EPIPE for ever, so a server whose log reader was gone never finished exiting.
 * Once a write fails (EPIPE: the reader of the pipe is gone; EIO: the terminal is gone), the
 * output is lost: every later line is dropped, and logging never throws.
 * A reader that stops reading without going makes writes wait, as for process.stdout on a pipe.
 */
export class LogDestination implements DestinationStream {
  private readonly out: ReturnType<typeof pino.destination>;
  private readonly pretty: ((line: string) => string) | undefined;
  private lostTo: NodeJS.ErrnoException | undefined;

  constructor(private readonly options: LogDestinationOptions) {
    this.out = pino.destination({ dest: options.fd, sync: true });
    this.out.on('error', (err: NodeJS.ErrnoException) => this.lose(err));
    this.pretty =
      options.format === 'pretty'
        ? prettyFactory({
            colorize: options.colorize,
            singleLine: true,
            translateTime: 'SYS:HH:MM:ss.l',
            ignore: 'pid,hostname,service',
          })
        : undefined;
  }

  /** The error that lost the output; undefined while lines are written. */
  get lost(): NodeJS.ErrnoException | undefined {
    return this.lostTo;
  }

  /** Writes one line as pino made it (JSON ending in a newline), or drops it once the output is lost. */
  write(line: string): void {
    if (this.lostTo !== undefined) return;
    this.out.write(this.pretty === undefined ? line : this.pretty(line));
  }

  private lose(err: NodeJS.ErrnoException): void {
    if (this.lostTo !== undefined) return;
    this.lostTo = err;
    this.options.onLost?.(err);
  }
}
