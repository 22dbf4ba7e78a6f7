import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Everything `inferd serve` is configured by, validated and frozen. */
export interface ServeConfig {
  readonly models: string;
  readonly modelControl: 'watch' | 'explicit';
  readonly repositoryPollMs: number;
  readonly host: string;
  readonly port: number;
  readonly maxMessageBytes: number;
  readonly maxStreamInFlight: number;
  readonly maxQueueSize: number;
  readonly instances: number;
  readonly intraOpThreads: number;
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

interface OptionSpec {
  readonly key: keyof ServeConfig;
  readonly flag: string;
  readonly env: string;
  readonly kind: 'string' | 'int' | 'choice';
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  readonly help: string;
  readonly defaultValue: string | number;
}

const MIB = 1024 * 1024;

/** Every option: its flag, its environment variable, its default. --help is printed from this table. */
export const SERVE_OPTIONS: readonly OptionSpec[] = [
  { key: 'models', flag: 'models', env: 'INFERD_MODELS', kind: 'string', defaultValue: 'models', help: 'model repository folder: <dir>/<model>/<version>/model.onnx' },
  { key: 'modelControl', flag: 'model-control', env: 'INFERD_MODEL_CONTROL', kind: 'choice', choices: ['watch', 'explicit'], defaultValue: 'watch', help: 'watch: load, reload and unload as the repository folder changes; explicit: only at start and through LoadModel/UnloadModel' },
  { key: 'repositoryPollMs', flag: 'repository-poll-ms', env: 'INFERD_REPOSITORY_POLL_MS', kind: 'int', min: 0, max: 3_600_000, defaultValue: 2000, help: 'in watch mode, also rescan the repository this often, in case a file-system event is missed (0: never)' },
  { key: 'host', flag: 'host', env: 'INFERD_HOST', kind: 'string', defaultValue: '127.0.0.1', help: 'address to listen on (0.0.0.0 or :: for every interface)' },
  { key: 'port', flag: 'port', env: 'INFERD_PORT', kind: 'int', min: 0, max: 65535, defaultValue: 8001, help: 'gRPC port (0 picks a free one)' },
  { key: 'maxMessageBytes', flag: 'max-message-bytes', env: 'INFERD_MAX_MESSAGE_BYTES', kind: 'int', min: 1024, max: 2 ** 31 - 1, defaultValue: 64 * MIB, help: 'largest request or response message; larger ones get RESOURCE_EXHAUSTED' },
  { key: 'maxStreamInFlight', flag: 'max-stream-in-flight', env: 'INFERD_MAX_STREAM_IN_FLIGHT', kind: 'int', min: 1, max: 1_000_000, defaultValue: 256, help: 'requests one PredictStream may have in flight before the server stops reading it' },
  { key: 'maxQueueSize', flag: 'max-queue-size', env: 'INFERD_MAX_QUEUE_SIZE', kind: 'int', min: 1, max: 10_000_000, defaultValue: 4096, help: 'requests that may wait per model version; past it, RESOURCE_EXHAUSTED' },
  { key: 'instances', flag: 'instances', env: 'INFERD_INSTANCES', kind: 'int', min: 1, max: 256, defaultValue: 1, help: 'sessions per model version, each on a worker thread of its own, where its config file does not say' },
  { key: 'intraOpThreads', flag: 'intra-op-threads', env: 'INFERD_INTRA_OP_THREADS', kind: 'int', min: 1, max: 1024, defaultValue: 1, help: `ONNX Runtime threads per session, where its config file does not say (this machine has ${availableParallelism()} cores)` },
  { key: 'drainTimeoutMs', flag: 'drain-timeout-ms', env: 'INFERD_DRAIN_TIMEOUT_MS', kind: 'int', min: 0, max: 3_600_000, defaultValue: 30_000, help: 'on SIGTERM, how long calls in flight may take to finish before they are cut off' },
  { key: 'logLevel', flag: 'log-level', env: 'INFERD_LOG_LEVEL', kind: 'choice', choices: LOG_LEVELS, defaultValue: 'info', help: `log level: ${LOG_LEVELS.join(', ')}` },
];

/** Thrown with every problem found, one per line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

export interface ConfigSources {
  /** Flags after the command name, e.g. ['--port', '9000']. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Builds the configuration: defaults, then a JSON file (--config FILE or INFERD_CONFIG, keys as
 * in ServeConfig), then environment variables, then flags. Throws ConfigError listing every
 * problem at once: unknown flags or keys, values that are not numbers or out of range.
 */
export function parseServeConfig(sources: ConfigSources): ServeConfig {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const o of SERVE_OPTIONS) values[o.key] = o.defaultValue;

  const flags = readFlags(sources.argv, problems);
  const file = flags.get('config') ?? sources.env['INFERD_CONFIG'];
  flags.delete('config');
  if (file !== undefined) {
    for (const [key, value] of Object.entries(readFile(file, problems))) {
      const o = SERVE_OPTIONS.find((s) => s.key === key);
      if (o === undefined) problems.push(`${file}: unknown key "${key}"`);
      else values[o.key] = convert(o, value, `${file}: "${key}"`, problems);
    }
  }
  for (const o of SERVE_OPTIONS) {
    const v = sources.env[o.env];
    if (v !== undefined && v !== '') values[o.key] = convert(o, v, o.env, problems);
  }
  for (const [flag, v] of flags) {
    const o = SERVE_OPTIONS.find((s) => s.flag === flag);
    if (o === undefined) problems.push(`unknown flag --${flag}`);
    else values[o.key] = convert(o, v, `--${flag}`, problems);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(values as unknown as ServeConfig);
}

function readFlags(argv: readonly string[], problems: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (m === null) {
      problems.push(`unexpected argument "${arg}"`);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) problems.push(`--${m[1]} needs a value`);
    else flags.set(m[1]!, value);
  }
  return flags;
}

function readFile(file: string, problems: string[]): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    problems.push(`${file}: expected a JSON object`);
  } catch (err) {
    problems.push(`${file}: ${(err as Error).message}`);
  }
  return {};
}

function convert(o: OptionSpec, value: unknown, where: string, problems: string[]): unknown {
  switch (o.kind) {
    case 'string':
      if (typeof value === 'string' && value !== '') return value;
      problems.push(`${where}: expected a non-empty string, got ${JSON.stringify(value)}`);
      return undefined;
    case 'choice':
      if (o.choices!.includes(value as string)) return value;
      problems.push(`${where}: expected one of ${o.choices!.join(', ')}, got ${JSON.stringify(value)}`);
      return undefined;
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
      if (Number.isInteger(n) && n >= o.min! && n <= o.max!) return n;
      problems.push(`${where}: expected a whole number from ${o.min} to ${o.max}, got ${JSON.stringify(value)}`);
      return undefined;
    }
  }
}
