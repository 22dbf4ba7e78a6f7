import { accessSync, constants, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { CallbackPolicy } from './jobs/webhooks/callback-policy';
import { CronSchedules, type Schedule } from './jobs/schedules/cron-schedules';
import { BATCH_SIZE } from './jobs/batch/batch-size';
import { parseOutputUri } from './jobs/batch/parse-output-uri';
import { parseJobStoreUrl, redactJobStoreUrl } from './jobs/store/job-store-url';
import { MAX_PING_STRIKES } from './security/ping-strikes';
import { ConfigProblems, ConfigReader, described, shown } from './config-problems';
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
  /** --job-store: '' (sqlite:<dataDir>/jobs.sqlite), sqlite:PATH or postgres://… (holds a password: never log it). */
  readonly jobStore: string;
  /** '' where not given: <hostname>:<port>. */
  readonly replicaId: string;
  readonly jobLeaseMs: number;
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
  { key: 'maxBatchJobs', flag: 'max-batch-jobs', env: 'INFERD_MAX_BATCH_JOBS', kind: 'int', min: 1, max: 64, defaultValue: 1, help: 'batch jobs this replica runs at once; the others wait QUEUED' },
  { key: 'jobStore', flag: 'job-store', env: 'INFERD_JOB_STORE', kind: 'secret', defaultValue: '', help: 'where jobs are kept: sqlite:PATH (none given: sqlite:<data-dir>/jobs.sqlite, for one server) or postgres://user:password@host:port/database, shared by replicas (prefer the environment variable: the URL holds a password)' },
  { key: 'replicaId', flag: 'replica-id', env: 'INFERD_REPLICA_ID', kind: 'text', defaultValue: '', help: 'this server\'s name in the job store (the owner of the jobs it runs) and in its logs (none given: <hostname>:<port>)' },
  { key: 'jobLeaseMs', flag: 'job-lease-ms', env: 'INFERD_JOB_LEASE_MS', kind: 'int', min: 100, max: 3_600_000, defaultValue: 30_000, help: 'a running job\'s lease, renewed every third of it: a job whose replica died or froze is taken over by another this long after its last renewal' },
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

export interface ConfigSources {
  /** Flags after the command name, e.g. ['--port', '9000']. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Builds the configuration: defaults, then a JSON file (--config FILE or INFERD_CONFIG, keys as
 * in ServeConfig), then environment variables, then flags. Throws a ConfigError listing every
 * problem at once (unknown flags or keys, values that are not numbers or out of range, options
 * that go together), each naming the file or the flag or variable, what was expected and what came.
 */
export function parseServeConfig(sources: ConfigSources): ServeConfig {
  const problems = new ConfigProblems();
  const values: Record<string, unknown> = {};
  for (const o of SERVE_OPTIONS) values[o.key] = o.kind === 'hosts' ? [] : o.defaultValue;
  values['schedules'] = [];
  let schedules: ScheduleAt[] = [];

  const flags = readFlags(sources.argv, problems);
  const file = flags.get('config') ?? sources.env['INFERD_CONFIG'];
  flags.delete('config');
  if (file !== undefined) {
    const reader = new ConfigReader(file, problems);
    for (const [key, value] of Object.entries(readFile(reader))) {
      const o = SERVE_OPTIONS.find((s) => s.key === key);
      if (key === 'schedules') {
        schedules = readSchedules(value, reader);
        values['schedules'] = schedules.map((s) => s.schedule);
      } else if (o === undefined) reader.problem(key, 'an option\'s key (a flag of inferd serve --help in camelCase, such as "maxQueueSize") or "schedules"', 'an unknown key');
      else values[o.key] = convert(o, value, { file, field: key }, problems);
    }
  }
  for (const o of SERVE_OPTIONS) {
    const v = sources.env[o.env];
    if (v !== undefined && v !== '') values[o.key] = convert(o, v, { file: undefined, field: o.env }, problems);
  }
  for (const [flag, v] of flags) {
    const o = SERVE_OPTIONS.find((s) => s.flag === flag);
    if (o === undefined) problems.add({ file: undefined, field: `--${flag}`, expected: 'a flag of inferd serve (see inferd serve --help)', got: 'an unknown flag' });
    else values[o.key] = convert(o, v, { file: undefined, field: `--${flag}` }, problems);
  }
  checkWebhooks(values, schedules, file, problems);
  if (values['jobStore'] !== undefined) {
    try {
      parseJobStoreUrl(values['jobStore'] as string, '', '');
    } catch (err) {
      const why = (err as Error).message;
      const got = shown(redactJobStoreUrl(values['jobStore'] as string), why.startsWith('expected ') ? undefined : why);
      problems.add({ file: undefined, field: '--job-store', expected: 'sqlite:PATH or postgres://user:password@host:port/database', got });
    }
  }
  checkSecurity(values, problems);
  problems.throwIfAny();
  return Object.freeze(values as unknown as ServeConfig);
}

function readFlags(argv: readonly string[], problems: ConfigProblems): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (m === null) {
      problems.add({ file: undefined, field: 'command line', expected: '--name value or --name=value', got: shown(arg) });
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) problems.add({ file: undefined, field: `--${m[1]}`, expected: 'a value', got: 'none' });
    else flags.set(m[1]!, value);
  }
  return flags;
}

/** The --config file's object; {} (with the problem recorded) when it cannot be read or is no JSON object. */
function readFile(reader: ConfigReader): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(reader.file!, 'utf8');
  } catch (err) {
    reader.problem('', 'a readable file', (err as NodeJS.ErrnoException).code ?? (err as Error).message);
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    reader.problem('', 'JSON', `text that does not parse (${(err as Error).message})`);
    return {};
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  // The file may hold secrets: say what kind of value it is, not what.
  reader.problem('', 'a JSON object', described(parsed));
  return {};
}

/** An option's value from a source: the file (and its key), or an environment variable or flag (file undefined). */
function convert(o: OptionSpec, value: unknown, where: { readonly file: string | undefined; readonly field: string }, problems: ConfigProblems): unknown {
  const problem = (expected: string, got: string): undefined => {
    problems.add({ ...where, expected, got });
    return undefined;
  };
  switch (o.kind) {
    case 'string':
      if (typeof value === 'string' && value !== '') return value;
      return problem('a non-empty string', shown(value));
    case 'choice':
      if (o.choices!.includes(value as string)) return value;
      return problem(`one of ${o.choices!.join(', ')}`, shown(value));
    case 'secret':
    case 'text':
      if (typeof value === 'string') return value;
      return problem('a string', o.kind === 'secret' ? described(value) : shown(value));
    case 'file':
      if (typeof value !== 'string') return problem('a file path', shown(value));
      if (value !== '') {
        try {
          accessSync(value, constants.R_OK);
        } catch (err) {
          problem('a readable file', shown(value, (err as NodeJS.ErrnoException).code ?? (err as Error).message));
        }
      }
      return value;
    case 'hosts': {
      const entries = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
      if (entries === undefined || entries.some((e) => typeof e !== 'string')) return problem('host[:port] entries, comma-separated', shown(value));
      const hosts = (entries as string[]).map((e) => e.trim()).filter((e) => e !== '');
      const bad = hosts.filter((h) => !CallbackPolicy.ENTRY.test(h) || Number(/:(\d+)$/.exec(h)?.[1] ?? 1) > 65535);
      if (bad.length > 0) problem('host[:port] entries', bad.map((b) => JSON.stringify(b)).join(', '));
      return hosts;
    }
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
      if (Number.isInteger(n) && n >= o.min! && n <= o.max!) return n;
      return problem(`a whole number from ${o.min} to ${o.max}`, shown(value));
    }
  }
}

/** Callbacks are always signed: allowing callback hosts needs a secret. Scheduled callbacks must be allowed too. */
function checkWebhooks(values: Record<string, unknown>, schedules: readonly ScheduleAt[], file: string | undefined, problems: ConfigProblems): void {
  const allow = values['webhookAllow'];
  if (!Array.isArray(allow)) return;
  if (allow.length > 0 && values['webhookSecret'] === '') {
    problems.add({ file: undefined, field: '--webhook-secret', expected: 'a secret to sign callbacks with, since --webhook-allow is set (prefer INFERD_WEBHOOK_SECRET)', got: 'none' });
  }
  const policy = new CallbackPolicy((allow as string[]).filter((e) => CallbackPolicy.ENTRY.test(e))); // bad entries are reported already
  for (const { at, schedule } of schedules) {
    if (schedule.callbackUrl === '') continue;
    try {
      policy.check(schedule.callbackUrl);
    } catch (err) {
      problems.add({ file, field: `${at}.callbackUrl`, expected: 'a URL on a host --webhook-allow allows', got: shown(schedule.callbackUrl, (err as Error).message) });
    }
  }
}

/** Options that only make sense together; each problem names the option missing, or the one that cannot be. */
function checkSecurity(values: Record<string, unknown>, problems: ConfigProblems): void {
  const set = (key: keyof ServeConfig): boolean => typeof values[key] === 'string' && values[key] !== '';
  const missing = (flag: string, expected: string): void => problems.add({ file: undefined, field: flag, expected, got: 'none' });
  if (set('tlsCert') && !set('tlsKey')) missing('--tls-key', 'the private key of --tls-cert (give both or neither)');
  if (set('tlsKey') && !set('tlsCert')) missing('--tls-cert', 'the certificate of --tls-key (give both or neither)');
  if (set('tlsClientCa') && !set('tlsCert') && !set('tlsKey')) missing('--tls-cert', 'a certificate and --tls-key, since --tls-client-ca is set: mutual TLS is TLS first');
  if (set('authJwks')) {
    if (!set('authJwtIssuer')) missing('--auth-jwt-issuer', 'the "iss" a JWT must have, since --auth-jwks is set: a JWT is accepted only for this server');
    if (!set('authJwtAudience')) missing('--auth-jwt-audience', 'the "aud" a JWT must have, since --auth-jwks is set: a JWT is accepted only for this server');
  } else {
    const given = (['authJwtIssuer', 'authJwtAudience'] as const).filter(set).map((key) => `--${SERVE_OPTIONS.find((o) => o.key === key)!.flag}`);
    if (given.length > 0) missing('--auth-jwks', `the key set that signs JWTs, since ${given.join(' and ')} ${given.length > 1 ? 'are' : 'is'} set`);
  }
  const auth = set('authTokens') || set('authJwks');
  const rate = values['authRatePerSecond'];
  if (!auth && typeof rate === 'number' && rate > 0) {
    problems.add({ file: undefined, field: '--auth-rate-per-second', expected: '0 without authentication (--auth-tokens or --auth-jwks): the rate is per caller', got: String(rate) });
  }
  if (!auth && values['reflection'] === 'auth') {
    problems.add({ file: undefined, field: '--reflection', expected: 'open or off without authentication (auth needs --auth-tokens or --auth-jwks)', got: '"auth"' });
  }
}

const SCHEDULE_KEYS = ['name', 'cron', 'timezone', 'modelName', 'modelVersion', 'inputUri', 'outputUri', 'batchSize', 'inputColumns', 'outputNames', 'maxBadRecords', 'callbackUrl'];

/** A schedule of the config file and its place there, `schedules[i]`. */
interface ScheduleAt {
  readonly at: string;
  readonly schedule: Schedule;
}

/** The "schedules" of the config file: every problem of every entry is reported, each under its index; entries with one are left out. */
function readSchedules(value: unknown, r: ConfigReader): ScheduleAt[] {
  const entries = r.list(value, 'schedules');
  if (entries === undefined) return [];
  const schedules: ScheduleAt[] = [];
  const names = new Set<string>();
  entries.forEach((item: unknown, i) => {
    const at = `schedules[${i}]`;
    const before = r.problems.count;
    const e = r.mapping(item, at, SCHEDULE_KEYS);
    if (e === undefined) return;
    const text = (key: string, required: boolean): string => {
      const v = e[key];
      if (v === undefined && !required) return '';
      if (typeof v === 'string' && (v !== '' || !required)) return v;
      r.problem(`${at}.${key}`, `a${required ? ' non-empty' : ''} string`, shown(v));
      return '';
    };
    const list = (key: string): string[] => {
      const v = e[key] ?? [];
      if (Array.isArray(v) && v.every((n) => typeof n === 'string' && n !== '')) return v as string[];
      r.problem(`${at}.${key}`, 'a list of names', shown(v));
      return [];
    };
    const name = text('name', true);
    if (name !== '' && !/^[A-Za-z0-9_.-]+$/.test(name)) r.problem(`${at}.name`, 'letters, digits, ".", "_" and "-"', shown(name));
    if (names.has(name)) r.problem(`${at}.name`, 'a name no earlier schedule has', shown(name));
    if (name !== '') names.add(name);
    const cron = text('cron', true);
    const timezone = text('timezone', false);
    if (cron !== '') {
      try {
        CronSchedules.check(cron, timezone);
      } catch (err) {
        r.problem(`${at}.cron`, 'a cron expression', shown(cron, (err as Error).message));
      }
    }
    const outputUri = text('outputUri', true);
    if (outputUri !== '') {
      try {
        parseOutputUri(outputUri);
      } catch (err) {
        r.problem(`${at}.outputUri`, 'a batch output', shown(outputUri, (err as Error).message));
      }
    }
    const batchSize = e['batchSize'] ?? 0;
    if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 0 || batchSize > BATCH_SIZE.max) {
      r.problem(`${at}.batchSize`, `a whole number from 1 to ${BATCH_SIZE.max} (0 or none: ${BATCH_SIZE.default})`, shown(batchSize));
    }
    const maxBadRecords = e['maxBadRecords'];
    if (maxBadRecords !== undefined && (typeof maxBadRecords !== 'number' || !Number.isInteger(maxBadRecords) || maxBadRecords < 0 || maxBadRecords > 0xffffffff)) {
      r.problem(`${at}.maxBadRecords`, `a whole number from 0 to ${0xffffffff} (none: no limit)`, shown(maxBadRecords));
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
    if (r.problems.count === before) schedules.push({ at, schedule: Object.freeze(schedule) });
  });
  return schedules;
}
