import { accessSync, constants, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { CallbackPolicy } from './jobs/webhooks/callback-policy';
import { CronSchedules, type Schedule } from './jobs/schedules/cron-schedules';
import { BATCH_SIZE } from './jobs/batch/batch-size';
import { parseOutputUri } from './jobs/batch/parse-output-uri';
import { MAX_PING_STRIKES } from './security/ping-strikes';
import { DEFAULT_MAX_MODEL_CONFIG_BYTES, type Placement } from './repository/model-config';

/** Everything `inferd serve` is configured by, validated and frozen. */
export interface ServeConfig {
  readonly models: string;
  readonly modelControl: 'watch' | 'explicit';
  readonly repositoryPollMs: number;
  readonly maxModelConfigBytes: number;
  readonly host: string;
  readonly port: number;
  readonly httpPort: number;
  readonly maxMessageBytes: number;
  readonly maxRequestElements: number;
  readonly maxRequestStrings: number;
  readonly maxStreamInFlight: number;
  readonly http2WindowBytes: number;
  readonly maxQueueSize: number;
  readonly instances: number;
  readonly placement: Placement;
  readonly intraOpThreads: number;
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** auto: pretty when standard output is a terminal, json otherwise. */
  readonly logFormat: LogFormat;
  readonly dataDir: string;
  readonly jobRetentionHours: number;
  readonly maxBatchJobs: number;
  readonly webhookAllow: readonly string[];
  readonly webhookSecret: string;
  readonly webhookRetryMs: number;
  readonly webhookMaxAttempts: number;
  /** '' where not given (the file kinds): TLS is on when tlsCert is set, mutual when tlsClientCa is too. */
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly tlsClientCa: string;
  /** Authentication is on when either is set. */
  readonly authTokens: string;
  readonly authJwks: string;
  readonly authJwtIssuer: string;
  readonly authJwtAudience: string;
  readonly authJwtScopeClaim: string;
  readonly authRatePerSecond: number;
  readonly reflection: 'open' | 'auth' | 'off';
  readonly maxConcurrentStreams: number;
  readonly keepaliveMinPingIntervalMs: number;
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  readonly connectionIdleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  /** Batch jobs run on cron expressions; only from the --config file (key "schedules"). */
  readonly schedules: readonly Schedule[];
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

interface OptionSpec {
  readonly key: Exclude<keyof ServeConfig, 'schedules'>;
  readonly flag: string;
  readonly env: string;
  /**
   * hosts: comma-separated host[:port] entries, possibly none; secret: a string that may be empty
   * and is never shown; text: a string that may be empty; file: a readable file's path, or empty.
   */
  readonly kind: 'string' | 'int' | 'choice' | 'hosts' | 'secret' | 'text' | 'file';
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  readonly help: string;
  readonly defaultValue: string | number;
}

const MIB = 1024 * 1024;
/**
 * Longest connection age or grace: grpc-js adds up to 10 % of jitter to the age, and Node fires a
 * timer past 2^31-1 ms at once (which would cut every connection), while 2^31-1 itself means
 * "never" to grpc-js. About 20 days.
 */
const MAX_TIMER_MS = 1_900_000_000;

/** Every option: its flag, its environment variable, its default. --help is printed from this table. */
export const SERVE_OPTIONS: readonly OptionSpec[] = [
  { key: 'models', flag: 'models', env: 'INFERD_MODELS', kind: 'string', defaultValue: 'models', help: 'model repository folder: <dir>/<model>/<version>/model.onnx' },
  { key: 'modelControl', flag: 'model-control', env: 'INFERD_MODEL_CONTROL', kind: 'choice', choices: ['watch', 'explicit'], defaultValue: 'watch', help: 'watch: load, reload and unload as the repository folder changes; explicit: only at start and through LoadModel/UnloadModel' },
  { key: 'repositoryPollMs', flag: 'repository-poll-ms', env: 'INFERD_REPOSITORY_POLL_MS', kind: 'int', min: 0, max: 3_600_000, defaultValue: 2000, help: 'in watch mode, also rescan the repository this often, in case a file-system event is missed (0: never)' },
  { key: 'maxModelConfigBytes', flag: 'max-model-config-bytes', env: 'INFERD_MAX_MODEL_CONFIG_BYTES', kind: 'int', min: 1024, max: MIB, defaultValue: DEFAULT_MAX_MODEL_CONFIG_BYTES, help: 'largest model config file (or MLmodel) read; a larger one fails its model\'s versions (parsing YAML takes ~500 bytes of memory per byte)' },
  { key: 'host', flag: 'host', env: 'INFERD_HOST', kind: 'string', defaultValue: '127.0.0.1', help: 'address to listen on (0.0.0.0 or :: for every interface)' },
  { key: 'port', flag: 'port', env: 'INFERD_PORT', kind: 'int', min: 0, max: 65535, defaultValue: 8001, help: 'gRPC port (0 picks a free one)' },
  { key: 'httpPort', flag: 'http-port', env: 'INFERD_HTTP_PORT', kind: 'int', min: 0, max: 65535, defaultValue: 8002, help: 'HTTP port of /metrics (Prometheus), /healthz and /readyz, on the same host (0 picks a free one)' },
  { key: 'maxMessageBytes', flag: 'max-message-bytes', env: 'INFERD_MAX_MESSAGE_BYTES', kind: 'int', min: 1024, max: 2 ** 31 - 1, defaultValue: 64 * MIB, help: 'largest request or response message; larger ones get RESOURCE_EXHAUSTED' },
  { key: 'maxRequestElements', flag: 'max-request-elements', env: 'INFERD_MAX_REQUEST_ELEMENTS', kind: 'int', min: 1, max: 2 ** 31 - 1, defaultValue: MIB, help: 'elements one request may carry outside raw bytes (typed fields such as float_data and string_data, shape dimensions, names), counted before decoding; past it, RESOURCE_EXHAUSTED' },
  { key: 'maxRequestStrings', flag: 'max-request-strings', env: 'INFERD_MAX_REQUEST_STRINGS', kind: 'int', min: 1, max: 2 ** 31 - 1, defaultValue: 256 * 1024, help: 'STRING (BYTES) tensor elements one request may carry, counted before decoding; past it, RESOURCE_EXHAUSTED' },
  { key: 'maxStreamInFlight', flag: 'max-stream-in-flight', env: 'INFERD_MAX_STREAM_IN_FLIGHT', kind: 'int', min: 1, max: 1_000_000, defaultValue: 256, help: 'requests one PredictStream may have in flight before the server stops reading it' },
  { key: 'http2WindowBytes', flag: 'http2-window-bytes', env: 'INFERD_HTTP2_WINDOW_BYTES', kind: 'int', min: 65535, max: 2 ** 31 - 1, defaultValue: 4 * MIB, help: 'HTTP/2 receive window per connection and per stream; larger lets big tensors arrive without waiting on round trips' },
  { key: 'maxQueueSize', flag: 'max-queue-size', env: 'INFERD_MAX_QUEUE_SIZE', kind: 'int', min: 1, max: 10_000_000, defaultValue: 4096, help: 'requests that may wait per model version; past it, RESOURCE_EXHAUSTED' },
  { key: 'instances', flag: 'instances', env: 'INFERD_INSTANCES', kind: 'int', min: 1, max: 256, defaultValue: 1, help: 'sessions per model version, each on a worker thread of its own, where its config file does not say' },
  { key: 'placement', flag: 'placement', env: 'INFERD_PLACEMENT', kind: 'choice', choices: ['auto', 'worker'], defaultValue: 'auto', help: 'where runs go, where a model\'s config file does not say: auto runs the small requests of a model timed at load under 0.2 ms a run on the main thread and the rest on its worker threads; worker: always on worker threads' },
  { key: 'intraOpThreads', flag: 'intra-op-threads', env: 'INFERD_INTRA_OP_THREADS', kind: 'int', min: 1, max: 1024, defaultValue: 1, help: `ONNX Runtime threads per session, where its config file does not say (this machine has ${availableParallelism()} cores)` },
  { key: 'drainTimeoutMs', flag: 'drain-timeout-ms', env: 'INFERD_DRAIN_TIMEOUT_MS', kind: 'int', min: 0, max: 3_600_000, defaultValue: 30_000, help: 'on SIGTERM, how long calls in flight may take to finish before they are cut off' },
  { key: 'dataDir', flag: 'data-dir', env: 'INFERD_DATA_DIR', kind: 'string', defaultValue: 'data', help: 'job store (jobs.sqlite) and batch files: input_uri and output_uri resolve inside it (created if missing)' },
  { key: 'jobRetentionHours', flag: 'job-retention-hours', env: 'INFERD_JOB_RETENTION_HOURS', kind: 'int', min: 1, max: 87_600, defaultValue: 168, help: 'finished jobs (and prediction results) are deleted this long after they end' },
  { key: 'maxBatchJobs', flag: 'max-batch-jobs', env: 'INFERD_MAX_BATCH_JOBS', kind: 'int', min: 1, max: 64, defaultValue: 1, help: 'batch jobs that run at once; the others wait QUEUED' },
  { key: 'webhookAllow', flag: 'webhook-allow', env: 'INFERD_WEBHOOK_ALLOW', kind: 'hosts', defaultValue: '', help: 'callback hosts jobs may notify, host[:port],... (a host without a port: any port); empty: no callbacks' },
  { key: 'webhookSecret', flag: 'webhook-secret', env: 'INFERD_WEBHOOK_SECRET', kind: 'secret', defaultValue: '', help: 'key of the X-Inferd-Signature HMAC-SHA256 on callbacks (needed with --webhook-allow; prefer the environment variable)' },
  { key: 'webhookRetryMs', flag: 'webhook-retry-ms', env: 'INFERD_WEBHOOK_RETRY_MS', kind: 'int', min: 1, max: 3_600_000, defaultValue: 1000, help: 'wait before retrying a failed callback; doubles with each attempt' },
  { key: 'webhookMaxAttempts', flag: 'webhook-max-attempts', env: 'INFERD_WEBHOOK_MAX_ATTEMPTS', kind: 'int', min: 1, max: 100, defaultValue: 10, help: 'attempts at a callback before it is given up' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'INFERD_TLS_CERT', kind: 'file', defaultValue: '', help: 'PEM certificate (chain) to serve TLS with on the gRPC and HTTP ports; read again when it changes; none: plaintext' },
  { key: 'tlsKey', flag: 'tls-key', env: 'INFERD_TLS_KEY', kind: 'file', defaultValue: '', help: 'PEM private key of --tls-cert' },
  { key: 'tlsClientCa', flag: 'tls-client-ca', env: 'INFERD_TLS_CLIENT_CA', kind: 'file', defaultValue: '', help: 'PEM CA bundle: with it, TLS is mutual and gRPC clients must present a certificate it signed' },
  { key: 'authTokens', flag: 'auth-tokens', env: 'INFERD_AUTH_TOKENS', kind: 'file', defaultValue: '', help: 'access file (YAML or JSON): SHA-256 digests of bearer tokens and client certificate names, with their scopes (see README, "Security"); turns authentication on' },
  { key: 'authJwks', flag: 'auth-jwks', env: 'INFERD_AUTH_JWKS', kind: 'file', defaultValue: '', help: 'JSON Web Key Set of public keys: bearer JWTs signed by one of them are accepted; turns authentication on' },
  { key: 'authJwtIssuer', flag: 'auth-jwt-issuer', env: 'INFERD_AUTH_JWT_ISSUER', kind: 'text', defaultValue: '', help: 'the "iss" a JWT must have (needed with --auth-jwks)' },
  { key: 'authJwtAudience', flag: 'auth-jwt-audience', env: 'INFERD_AUTH_JWT_AUDIENCE', kind: 'text', defaultValue: '', help: 'the "aud" a JWT must have (needed with --auth-jwks)' },
  { key: 'authJwtScopeClaim', flag: 'auth-jwt-scope-claim', env: 'INFERD_AUTH_JWT_SCOPE_CLAIM', kind: 'string', defaultValue: 'scope', help: 'the JWT claim that lists its scopes, space-separated or as a list' },
  { key: 'authRatePerSecond', flag: 'auth-rate-per-second', env: 'INFERD_AUTH_RATE_PER_SECOND', kind: 'int', min: 0, max: 10_000_000, defaultValue: 0, help: 'requests per second per caller, where the access file does not say; past it, RESOURCE_EXHAUSTED (0: no limit)' },
  { key: 'reflection', flag: 'reflection', env: 'INFERD_REFLECTION', kind: 'choice', choices: ['open', 'auth', 'off'], defaultValue: 'open', help: 'server reflection: open to all, only for callers with scope models:read (with authentication on), or not served' },
  { key: 'maxConcurrentStreams', flag: 'max-concurrent-streams', env: 'INFERD_MAX_CONCURRENT_STREAMS', kind: 'int', min: 1, max: 2 ** 31 - 1, defaultValue: 1000, help: 'calls one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS)' },
  { key: 'keepaliveMinPingIntervalMs', flag: 'keepalive-min-ping-interval-ms', env: 'INFERD_KEEPALIVE_MIN_PING_INTERVAL_MS', kind: 'int', min: 0, max: 86_400_000, defaultValue: 300_000, help: `a client that pings sooner than this after its previous ping, with no data sent to it in between, ${MAX_PING_STRIKES + 1} times gets GOAWAY too_many_pings and its connection closed (0: any rate; 5 minutes as in gRPC's own servers)` },
  { key: 'maxConnectionAgeMs', flag: 'max-connection-age-ms', env: 'INFERD_MAX_CONNECTION_AGE_MS', kind: 'int', min: 0, max: MAX_TIMER_MS, defaultValue: 0, help: 'close connections this old (GOAWAY, clients reconnect), so that load balancers can spread long-lived clients (0: never)' },
  { key: 'maxConnectionAgeGraceMs', flag: 'max-connection-age-grace-ms', env: 'INFERD_MAX_CONNECTION_AGE_GRACE_MS', kind: 'int', min: 0, max: MAX_TIMER_MS, defaultValue: 30_000, help: 'after --max-connection-age-ms, how long calls in flight get before the connection is cut' },
  { key: 'connectionIdleTimeoutMs', flag: 'connection-idle-timeout-ms', env: 'INFERD_CONNECTION_IDLE_TIMEOUT_MS', kind: 'int', min: 0, max: MAX_TIMER_MS, defaultValue: 300_000, help: 'send GOAWAY to gRPC connections with no call open for this long, and close them (clients reconnect at their next call), so that idle and half-dead connections give back their descriptors; HTTP keep-alive connections wait 5 s, or this if shorter (0: never)' },
  { key: 'handshakeTimeoutMs', flag: 'handshake-timeout-ms', env: 'INFERD_HANDSHAKE_TIMEOUT_MS', kind: 'int', min: 1, max: MAX_TIMER_MS, defaultValue: 10_000, help: 'close a connection that has not completed its TLS handshake and sent its HTTP/2 preface and SETTINGS (on the HTTP port: a whole request) this long after it opened' },
  { key: 'logLevel', flag: 'log-level', env: 'INFERD_LOG_LEVEL', kind: 'choice', choices: LOG_LEVELS, defaultValue: 'info', help: `log level: ${LOG_LEVELS.join(', ')}` },
  { key: 'logFormat', flag: 'log-format', env: 'INFERD_LOG_FORMAT', kind: 'choice', choices: LOG_FORMATS, defaultValue: 'auto', help: 'log lines on stdout: json, one object per line; pretty, readable (time, level, message, fields); auto: pretty when stdout is a terminal, json otherwise' },
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
  for (const o of SERVE_OPTIONS) values[o.key] = o.kind === 'hosts' ? [] : o.defaultValue;
  values['schedules'] = [];

  const flags = readFlags(sources.argv, problems);
  const file = flags.get('config') ?? sources.env['INFERD_CONFIG'];
  flags.delete('config');
  if (file !== undefined) {
    for (const [key, value] of Object.entries(readFile(file, problems))) {
      const o = SERVE_OPTIONS.find((s) => s.key === key);
      if (key === 'schedules') values['schedules'] = readSchedules(value, `${file}: "schedules"`, problems);
      else if (o === undefined) problems.push(`${file}: unknown key "${key}"`);
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
  checkWebhooks(values, problems);
  checkSecurity(values, problems);
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
    case 'secret':
    case 'text':
      if (typeof value === 'string') return value;
      problems.push(`${where}: expected a string`);
      return undefined;
    case 'file':
      if (typeof value !== 'string') {
        problems.push(`${where}: expected a file path`);
        return undefined;
      }
      if (value !== '') {
        try {
          accessSync(value, constants.R_OK);
        } catch (err) {
          problems.push(`${where}: cannot read ${value}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      }
      return value;
    case 'hosts': {
      const entries = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
      if (entries === undefined || entries.some((e) => typeof e !== 'string')) {
        problems.push(`${where}: expected host[:port] entries, comma-separated, got ${JSON.stringify(value)}`);
        return undefined;
      }
      const hosts = (entries as string[]).map((e) => e.trim()).filter((e) => e !== '');
      const bad = hosts.filter((h) => !CallbackPolicy.ENTRY.test(h) || Number(/:(\d+)$/.exec(h)?.[1] ?? 1) > 65535);
      if (bad.length > 0) problems.push(`${where}: expected host[:port] entries, got ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
      return hosts;
    }
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
      if (Number.isInteger(n) && n >= o.min! && n <= o.max!) return n;
      problems.push(`${where}: expected a whole number from ${o.min} to ${o.max}, got ${JSON.stringify(value)}`);
      return undefined;
    }
  }
}

/** Callbacks are always signed: allowing callback hosts needs a secret. Scheduled callbacks must be allowed too. */
function checkWebhooks(values: Record<string, unknown>, problems: string[]): void {
  const allow = values['webhookAllow'];
  if (!Array.isArray(allow)) return;
  if (allow.length > 0 && values['webhookSecret'] === '') {
    problems.push('--webhook-allow is set but no secret is: set INFERD_WEBHOOK_SECRET (or --webhook-secret) to sign callbacks with');
  }
  const policy = new CallbackPolicy((allow as string[]).filter((e) => CallbackPolicy.ENTRY.test(e))); // bad entries are reported already
  for (const s of (values['schedules'] as Schedule[] | undefined) ?? []) {
    if (s.callbackUrl === '') continue;
    try {
      policy.check(s.callbackUrl);
    } catch (err) {
      problems.push(`schedule "${s.name}": ${(err as Error).message}`);
    }
  }
}

/** Options that only make sense together. */
function checkSecurity(values: Record<string, unknown>, problems: string[]): void {
  const set = (key: keyof ServeConfig): boolean => typeof values[key] === 'string' && values[key] !== '';
  if (set('tlsCert') !== set('tlsKey')) problems.push('--tls-cert and --tls-key go together: give both or neither');
  if (set('tlsClientCa') && !set('tlsCert')) problems.push('--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first');
  if (set('authJwks') && (!set('authJwtIssuer') || !set('authJwtAudience'))) problems.push('--auth-jwks needs --auth-jwt-issuer and --auth-jwt-audience: a JWT is accepted only for this server');
  if (!set('authJwks') && (set('authJwtIssuer') || set('authJwtAudience'))) problems.push('--auth-jwt-issuer and --auth-jwt-audience need --auth-jwks');
  const auth = set('authTokens') || set('authJwks');
  if (!auth && typeof values['authRatePerSecond'] === 'number' && values['authRatePerSecond'] > 0) problems.push('--auth-rate-per-second needs authentication on (--auth-tokens or --auth-jwks): the rate is per caller');
  if (!auth && values['reflection'] === 'auth') problems.push('--reflection auth needs authentication on (--auth-tokens or --auth-jwks)');
}

const SCHEDULE_KEYS = ['name', 'cron', 'timezone', 'modelName', 'modelVersion', 'inputUri', 'outputUri', 'batchSize', 'inputColumns', 'outputNames', 'maxBadRecords', 'callbackUrl'];

/** The "schedules" of the config file: every problem of every entry is reported, each under its index. */
function readSchedules(value: unknown, where: string, problems: string[]): Schedule[] {
  if (!Array.isArray(value)) {
    problems.push(`${where}: expected an array of schedules`);
    return [];
  }
  const schedules: Schedule[] = [];
  const names = new Set<string>();
  value.forEach((entry: unknown, i) => {
    const at = `${where}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${at}: expected an object`);
      return;
    }
    const e = entry as Record<string, unknown>;
    const before = problems.length;
    for (const key of Object.keys(e)) if (!SCHEDULE_KEYS.includes(key)) problems.push(`${at}: unknown key "${key}" (a schedule has ${SCHEDULE_KEYS.join(', ')})`);
    const text = (key: string, required: boolean): string => {
      const v = e[key];
      if (v === undefined && !required) return '';
      if (typeof v === 'string' && (v !== '' || !required)) return v;
      problems.push(`${at}.${key}: expected a${required ? ' non-empty' : ''} string, got ${JSON.stringify(v)}`);
      return '';
    };
    const list = (key: string): string[] => {
      const v = e[key] ?? [];
      if (Array.isArray(v) && v.every((n) => typeof n === 'string' && n !== '')) return v as string[];
      problems.push(`${at}.${key}: expected an array of names, got ${JSON.stringify(v)}`);
      return [];
    };
    const name = text('name', true);
    if (name !== '' && !/^[A-Za-z0-9_.-]+$/.test(name)) problems.push(`${at}.name: "${name}" may hold only letters, digits, ".", "_" and "-"`);
    if (names.has(name)) problems.push(`${at}.name: "${name}" is taken by an earlier schedule`);
    if (name !== '') names.add(name);
    const cron = text('cron', true);
    const timezone = text('timezone', false);
    if (cron !== '') {
      try {
        CronSchedules.check(cron, timezone);
      } catch (err) {
        problems.push(`${at}.cron: "${cron}": ${(err as Error).message}`);
      }
    }
    const outputUri = text('outputUri', true);
    if (outputUri !== '') {
      try {
        parseOutputUri(outputUri);
      } catch (err) {
        problems.push(`${at}.outputUri: ${(err as Error).message}`);
      }
    }
    const batchSize = e['batchSize'] ?? 0;
    if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 0 || batchSize > BATCH_SIZE.max) {
      problems.push(`${at}.batchSize: expected a whole number from 1 to ${BATCH_SIZE.max} (0 or none: ${BATCH_SIZE.default}), got ${JSON.stringify(batchSize)}`);
    }
    const maxBadRecords = e['maxBadRecords'];
    if (maxBadRecords !== undefined && (typeof maxBadRecords !== 'number' || !Number.isInteger(maxBadRecords) || maxBadRecords < 0 || maxBadRecords > 0xffffffff)) {
      problems.push(`${at}.maxBadRecords: expected a whole number from 0 to ${0xffffffff} (none: no limit), got ${JSON.stringify(maxBadRecords)}`);
    }
    const schedule: Schedule = {
      name,
      cron,
      timezone,
      modelName: text('modelName', true),
      modelVersion: text('modelVersion', false),
      inputUri: text('inputUri', true),
      outputUri,
      batchSize: typeof batchSize === 'number' ? batchSize : 0,
      inputColumns: list('inputColumns'),
      outputNames: list('outputNames'),
      callbackUrl: text('callbackUrl', false),
      ...(typeof maxBadRecords === 'number' ? { maxBadRecords } : {}),
    };
    if (problems.length === before) schedules.push(Object.freeze(schedule));
  });
  return schedules;
}
