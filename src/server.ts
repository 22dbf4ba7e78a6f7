import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ServeConfig } from './config';
import { InferdError } from './inferd-error';
import { HealthRegistry } from './health/health-registry';
import { Inference } from './inference';
import { JobManager } from './jobs/job-manager';
import { parseJobStoreUrl } from './jobs/store/job-store-url';
import { packageVersion } from './package-root';
import { SYSTEM_WALL_CLOCK } from './jobs/wall-clock';
import { ModelRepository } from './repository/model-repository';
import { Authenticator } from './security/authenticator';
import { TlsFiles } from './security/tls-files';
import { HttpServer } from './transport/http/http-server';
import { RestApi } from './transport/http/rest-api';
import { Telemetry } from './telemetry/telemetry';
import type { Tracing } from './telemetry/tracing';
import { memoryReducerOn } from './node-flags';
import { GrpcTransport } from './transport/grpc/grpc-transport';

/** After the drain timeout, how long calls failed with UNAVAILABLE get to reach their clients. */
const FLUSH_GRACE_MS = 1000;
/** The job store, in the data directory. */
export const JOB_STORE_FILE = 'jobs.sqlite';
/** Asynchronous predictions run at once (each is one request; the model's queue orders them). */
const MAX_PREDICTION_JOBS = 16;
/** How long one webhook call may take. */
const WEBHOOK_TIMEOUT_MS = 10_000;
/** How often certificate, access and key-set files are checked for a change. */
const CREDENTIAL_FILES_POLL_MS = 1000;

/**
 * The composition root: builds every part from the configuration and runs the lifecycle
 * start → ready → drain → stop. Parts are closed in reverse order of creation.
 */
export class InferdServer {
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly config: ServeConfig,
    private readonly log: Logger,
    private readonly health: HealthRegistry,
    private readonly repository: ModelRepository,
    private readonly inference: Inference,
    private readonly jobs: JobManager,
    private readonly transport: GrpcTransport,
    private readonly http: HttpServer,
    private readonly rest: RestApi,
    private readonly security: Security,
  ) {}

  /**
   * Loads the repository and starts serving. Settles once the port is bound and every model has
   * finished loading (a model that failed to load is reported, not fatal). Rejects when the
   * repository folder cannot be read or the port cannot be bound.
   */
  static async create(
    config: ServeConfig,
    log: Logger,
    options: { tracing?: Tracing | undefined } = {},
  ): Promise<InferdServer> {
    const health = new HealthRegistry();
    const telemetry = new Telemetry({ tracing: options.tracing });
    const security = openSecurity(config, log);
    // First up and last down: /healthz answers while models load and while the server drains.
    const http = await HttpServer.create({
      host: config.host,
      port: config.httpPort,
      metrics: telemetry.metrics,
      ready: () => health.get('') === 'SERVING',
      tls: security.tls,
      auth: security.auth,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      connectionIdleTimeoutMs: config.connectionIdleTimeoutMs,
      log,
    }).catch((err: unknown) => {
      security.close();
      throw err;
    });
    const repository = await ModelRepository.create({
      observe: (model, version) => telemetry.observer(model, version),
      root: config.models,
      defaults: {
        instances: config.instances,
        placement: config.placement,
        maxQueueSize: config.maxQueueSize,
        session: {
          intraOpThreads: config.intraOpThreads,
          interOpThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        },
      },
      control: config.modelControl,
      pollMs: config.repositoryPollMs,
      maxConfigFileBytes: config.maxModelConfigBytes,
      // A warm-up input is a request the server makes itself: no larger than one a client may send.
      maxWarmupInputBytes: config.maxMessageBytes,
      log,
    }).catch(async (err: unknown) => {
      await http.close();
      security.close();
      throw err;
    });
    telemetry.metrics.watch(repository);
    const syncModel = (name: string): void => health.set(name, repository.isReady(name) ? 'SERVING' : 'NOT_SERVING');
    for (const name of repository.modelNames()) syncModel(name);
    repository.on('change', syncModel);
    repository.on('removed', (name) => health.remove(name));

    const inference = new Inference(repository, { telemetry });
    let jobs: JobManager;
    try {
      jobs = await JobManager.create(
        {
          store: parseJobStoreUrl(config.jobStore, config.dataDir, JOB_STORE_FILE),
          leaseMs: config.jobLeaseMs,
          paths: { root: config.dataDir, confine: true },
          retentionMs: config.jobRetentionHours * 3_600_000,
          maxBatchJobs: config.maxBatchJobs,
          maxPredictionJobs: MAX_PREDICTION_JOBS,
          webhook: {
            allow: config.webhookAllow,
            secret: config.webhookSecret,
            retryMs: config.webhookRetryMs,
            maxAttempts: config.webhookMaxAttempts,
            timeoutMs: WEBHOOK_TIMEOUT_MS,
          },
          schedules: config.schedules,
          alone: false,
          connectionName: config.replicaId === '' ? hostname() : config.replicaId,
          clock: SYSTEM_WALL_CLOCK,
          log,
        },
        inference,
      );
    } catch (err) {
      await repository.close();
      await http.close();
      security.close();
      throw err; // it names the store, with no password
    }
    let transport: GrpcTransport;
    try {
      transport = await GrpcTransport.create(
        { inference, repository, health, jobs, telemetry },
        {
          host: config.host,
          port: config.port,
          maxMessageBytes: config.maxMessageBytes,
          requestLimits: { maxRequestElements: config.maxRequestElements, maxRequestStrings: config.maxRequestStrings },
          maxStreamInFlight: config.maxStreamInFlight,
          http2WindowBytes: config.http2WindowBytes,
          maxConcurrentStreams: config.maxConcurrentStreams,
          keepaliveMinPingIntervalMs: config.keepaliveMinPingIntervalMs,
          maxConnectionAgeMs: config.maxConnectionAgeMs,
          maxConnectionAgeGraceMs: config.maxConnectionAgeGraceMs,
          connectionIdleTimeoutMs: config.connectionIdleTimeoutMs,
          handshakeTimeoutMs: config.handshakeTimeoutMs,
          tls: security.tls,
          auth: security.auth,
          reflection: config.reflection,
          log,
        },
      );
    } catch (err) {
      await jobs.close();
      await repository.close();
      await http.close();
      security.close();
      throw err;
    }
    const replicaId = config.replicaId === '' ? `${hostname()}:${transport.port}` : config.replicaId;
    jobs.start(replicaId);
    const rest = new RestApi(
      { inference, repository, health, telemetry },
      {
        maxMessageBytes: config.maxMessageBytes,
        requestLimits: { maxRequestElements: config.maxRequestElements, maxRequestStrings: config.maxRequestStrings },
        serverVersion: packageVersion(),
        tls: security.tls,
        auth: security.auth,
        log,
      },
    );
    http.serveApi(rest);
    for (const name of transport.services) health.set(name, 'SERVING');
    health.set('', 'SERVING');
    const models = repository.modelNames().map((name) => ({ name, ready: repository.isReady(name) }));
    const tls = security.tls === undefined ? 'off' : security.tls.mutual ? 'mutual' : 'on';
    log.info(
      {
        host: config.host,
        port: transport.port,
        httpPort: http.port,
        replicaId,
        jobStore: jobs.storeWhere,
        tls,
        auth: security.auth !== undefined,
        reflection: config.reflection,
        tracing: options.tracing !== undefined,
        v8MemoryReducer: memoryReducerOn() ? 'on' : 'off',
        models,
      },
      'serving',
    );
    if (tls === 'off') log.info({}, 'TLS is off: plaintext gRPC and HTTP (set --tls-cert and --tls-key for TLS)');
    if (tls === 'off' && security.auth !== undefined && !isLoopback(config.host))
      log.warn({ host: config.host }, 'authentication is on without TLS: bearer tokens cross the network in the clear');
    return new InferdServer(config, log, health, repository, inference, jobs, transport, http, rest, security);
  }

  /** The gRPC port bound (useful when the configuration asked for port 0). */
  get port(): number {
    return this.transport.port;
  }

  /** The HTTP port of /metrics, /healthz, /readyz and the REST binding under /v2. */
  get httpPort(): number {
    return this.http.port;
  }

  /**
   * Graceful stop: health turns NOT_SERVING, new calls get UNAVAILABLE, calls in flight finish
   * or, once the drain timeout passes, are answered UNAVAILABLE; then every session and worker is
   * closed. A model run already in progress cannot be interrupted, so this settles after it
   * ends (its answer is dropped). Safe to call twice.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      const started = performance.now();
      this.log.info({ drainTimeoutMs: this.config.drainTimeoutMs }, 'draining');
      this.health.shutdown();
      // Jobs stop first, so that their runs end as stopped (resumed at the next start), not as
      // failed by the UNAVAILABLE that a draining core answers.
      const jobsStopped = this.jobs.stop();
      this.inference.stopAccepting();
      const [grpcDrained, restDrained] = await Promise.all([
        this.transport.drain(this.config.drainTimeoutMs),
        this.rest.drain(this.config.drainTimeoutMs),
      ]);
      const drained = grpcDrained && restDrained;
      const jobsDone =
        drained && (await settlesWithin(jobsStopped, this.config.drainTimeoutMs - (performance.now() - started)));
      if (!drained || !jobsDone) {
        this.log.warn(
          { drainTimeoutMs: this.config.drainTimeoutMs },
          'drain timeout passed: cutting off calls in flight',
        );
        this.repository.abandon(
          new InferdError('UNAVAILABLE', 'server is shutting down: the drain timeout passed before the model finished'),
        );
        if (!grpcDrained) await this.transport.forceStop(FLUSH_GRACE_MS);
        // REST requests cut off are answered 503 as their runs are abandoned; they get the same grace to go out.
        if (!restDrained) await this.rest.drain(FLUSH_GRACE_MS);
      }
      await this.jobs.close();
      await this.repository.close();
      await this.http.close();
      this.security.close();
      this.log.info({ drainMs: Math.round(performance.now() - started) }, 'stopped');
    })();
    return this.closed;
  }
}

/** The TLS files and the authenticator the configuration asks for (each undefined when off). */
interface Security {
  readonly tls: TlsFiles | undefined;
  readonly auth: Authenticator | undefined;
  close(): void;
}

/** Reads the certificate and access files. Throws an Error naming the file when one cannot be used. */
function openSecurity(config: ServeConfig, log: Logger): Security {
  const tls =
    config.tlsCert === ''
      ? undefined
      : TlsFiles.open({
          certFile: config.tlsCert,
          keyFile: config.tlsKey,
          clientCaFile: config.tlsClientCa === '' ? undefined : config.tlsClientCa,
          pollMs: CREDENTIAL_FILES_POLL_MS,
          log,
        });
  let auth: Authenticator | undefined;
  try {
    auth =
      config.authTokens === '' && config.authJwks === ''
        ? undefined
        : Authenticator.open({
            accessFile: config.authTokens === '' ? undefined : config.authTokens,
            jwt:
              config.authJwks === ''
                ? undefined
                : {
                    jwksFile: config.authJwks,
                    issuer: config.authJwtIssuer,
                    audience: config.authJwtAudience,
                    scopeClaim: config.authJwtScopeClaim,
                  },
            ratePerSecond: config.authRatePerSecond,
            pollMs: CREDENTIAL_FILES_POLL_MS,
            log,
          });
  } catch (err) {
    tls?.close();
    throw err;
  }
  return {
    tls,
    auth,
    close: () => {
      tls?.close();
      auth?.close();
    },
  };
}

/** inferd's release, from its package.json (reported by the REST binding's server metadata). */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** True when `promise` settles within `ms` (false at once for ms <= 0 unless it already has). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  const settled = await Promise.race([
    promise.then(
      () => true as const,
      () => true as const,
    ),
    timedOut,
  ]);
  clearTimeout(timer);
  return settled;
}
