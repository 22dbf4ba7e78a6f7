import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import pino from 'pino';
import { benchCommand } from './bench-command';
import { parseServeConfig, SERVE_OPTIONS } from '../config';
import { ConfigError } from '../config-problems';
import { batchCommand } from './batch-command';
import { InferdServer } from '../server';
import { packageVersion } from '../package-root';
import { LogDestination } from '../telemetry/log-destination';
import { startTracing } from '../telemetry/start-tracing';

const USAGE = `inferd: serve ONNX models over gRPC

Usage:
  inferd serve [options]    serve a model repository
  inferd batch [options]    score a whole file with a model, here or on a server
  inferd bench [options]    load a server with requests and measure it
  inferd --help             this text
  inferd --version          the version

Run "inferd serve --help", "inferd batch --help" or "inferd bench --help" for their options.
`;

function serveHelp(): string {
  const lines = SERVE_OPTIONS.map((o) => {
    const value = o.kind === 'int' ? 'N' : o.kind === 'choice' ? o.choices!.join('|') : o.kind === 'hosts' ? 'HOSTS' : o.kind === 'secret' ? 'SECRET' : o.kind === 'file' ? 'FILE' : o.key === 'models' || o.key === 'dataDir' ? 'DIR' : 'VALUE';
    const flag = `--${o.flag} ${value}`;
    return `  ${flag.padEnd(28)} ${o.help}\n  ${''.padEnd(28)} (default ${o.defaultValue === '' ? 'none' : o.defaultValue}; env ${o.env})`;
  });
  return `Usage: inferd serve [options]

Serves every model in the repository folder over gRPC: inferd.v1.PredictionService,
inferd.v1.ModelService, inferd.v1.JobService (asynchronous predictions and batch jobs, kept
in the data directory), grpc.health.v1.Health and server reflection, all on one port.
Stops gracefully on SIGTERM or SIGINT; running batch jobs resume at the next start.
Plaintext unless --tls-cert is given; every caller may do everything unless --auth-tokens or
--auth-jwks is given (README, "Security": the access file, scopes and limits).

Options (flags win over environment variables, which win over the --config file):
  ${'--config FILE'.padEnd(28)} JSON file with any of the options below, by their camelCase names,
  ${''.padEnd(28)} and "schedules": batch jobs run on cron expressions (see README, "Jobs")
${lines.join('\n')}
  ${'--help'.padEnd(28)} this text
`;
}

/** Writes to stderr if it can: when stderr is gone too (EPIPE), the note is dropped rather than thrown. */
function note(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // Nowhere left to say it.
  }
}

/** Runs the command line; resolves with the exit code (serve resolves only when stopped). */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    if (command === undefined) {
      process.stderr.write(USAGE);
      return 2;
    }
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === '--version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (command === 'bench') return benchCommand(rest, { INFERD_TOKEN: process.env['INFERD_TOKEN'] });
  if (command === 'batch') return batchCommand(rest, { INFERD_TOKEN: process.env['INFERD_TOKEN'] });
  if (command !== 'serve') {
    process.stderr.write(`inferd: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(serveHelp());
    return 0;
  }
  return serve(rest);
}

async function serve(argv: readonly string[]): Promise<number> {
  let config;
  try {
    config = parseServeConfig({ argv, env: process.env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`inferd serve: bad configuration:\n${err.lines.map((line) => `  ${line}`).join('\n')}\n`);
    return 2;
  }
  const terminal = isatty(1);
  const output = new LogDestination({
    fd: 1,
    format: config.logFormat === 'auto' ? (terminal ? 'pretty' : 'json') : config.logFormat,
    colorize: terminal && !process.env['NO_COLOR'],
    onLost: (err) => note(`inferd: log output lost (${err.code ?? err.message}): later log lines are dropped; serving goes on\n`),
  });
  const log = pino({ level: config.logLevel, base: { service: 'inferd' } }, output);
  // Listening from before the server starts: a signal sent as soon as "serving" is logged stops it
  // gracefully rather than kill it; one sent while it starts stops it once it has started.
  const signals = listenForSignals();
  try {
    // Traces go where the standard OTEL_* variables say; nowhere when they say nothing.
    const traces = startTracing(process.env);
    const starting = InferdServer.create(config, log, { tracing: traces.tracing });
    let server: InferdServer | undefined;
    try {
      server = await Promise.race([starting, signals.second.then(() => undefined)]);
    } catch (err) {
      log.fatal({ err }, 'cannot start');
      await traces.shutdown().catch(() => undefined);
      return 1;
    }
    const exitNow = signals.second.then((signal) => {
      log.warn({ signal }, 'second signal: exiting now');
      return 1;
    });
    if (server === undefined) {
      starting.catch(() => undefined); // the process exits now; a failure to start no longer matters
      return await exitNow;
    }
    const signal = await signals.first;
    log.info({ signal }, 'stopping');
    const stopped = server.close().then(
      () => traces.shutdown().catch((err: unknown) => log.warn({ err }, 'cannot export the last traces')).then(() => 0),
      (err: unknown) => {
        log.error({ err }, 'error while stopping');
        return 1;
      },
    );
    return await Promise.race([stopped, exitNow]);
  } finally {
    signals.dispose();
  }
}

/** SIGTERM and SIGINT, the first and the second (either kind), from now until dispose(). */
function listenForSignals(): { first: Promise<NodeJS.Signals>; second: Promise<NodeJS.Signals>; dispose(): void } {
  const received: ((signal: NodeJS.Signals) => void)[] = [];
  const first = new Promise<NodeJS.Signals>((resolve) => received.push(resolve));
  const second = new Promise<NodeJS.Signals>((resolve) => received.push(resolve));
  let count = 0;
  const on = (signal: NodeJS.Signals): void => received[count++]?.(signal);
  process.on('SIGTERM', on);
  process.on('SIGINT', on);
  return {
    first,
    second,
    dispose: () => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
    },
  };
}
