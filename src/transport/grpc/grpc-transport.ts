import { Server, ServerCredentials, type ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { HealthService as HealthDefinition } from '../../../generated/grpc/health/v1/health';
import { ServerReflectionService as ReflectionV1 } from '../../../generated/grpc/reflection/v1/reflection';
import { ServerReflectionService as ReflectionV1Alpha } from '../../../generated/grpc/reflection/v1alpha/reflection';
import { JobServiceService } from '../../../generated/inferd/v1/job_service';
import { ModelServiceService } from '../../../generated/inferd/v1/model_service';
import type { HealthRegistry } from '../../health/health-registry';
import type { Inference } from '../../inference';
import type { JobManager } from '../../jobs/job-manager';
import type { ModelRepository } from '../../repository/model-repository';
import type { Telemetry } from '../../telemetry/telemetry';
import { HealthService } from './health-service';
import { JobService } from './job-service';
import { modelService } from './model-service';
import { OipService } from './oip-service';
import { predictionService } from './prediction-service';
import { ReflectionService } from './reflection-service';
import { authInterceptor } from './auth-interceptor';
import { applyConnectionPolicy } from './connection-policy';
import { routeGrpcJsLogs } from './grpc-js-logger';
import type { ReflectionAccess } from './method-scopes';
import { tlsServerCredentials } from './tls-server-credentials';
import type { Authenticator } from '../../security/authenticator';
import type { TlsFiles } from '../../security/tls-files';
import { INFERENCE_SERVICE, PREDICTION_SERVICE } from './zero-copy-services';
import { CallAdapter } from './call-adapter';
import { refusedRequestInterceptor } from './refused-request-interceptor';
import type { RequestLimits } from './scan-request';

export interface GrpcTransportOptions {
  readonly host: string;
  /** 0 picks a free port; `port` on the transport tells which. */
  readonly port: number;
  /** Largest message received or sent; larger ones get RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
  /** What one request that carries tensors may cost to decode; past it, RESOURCE_EXHAUSTED before decoding. */
  readonly requestLimits: RequestLimits;
  readonly maxStreamInFlight: number;
  /** HTTP/2 receive window per connection and per stream. */
  readonly http2WindowBytes: number;
  /** Calls one connection may have open at once. */
  readonly maxConcurrentStreams: number;
  /** Clients pinging more often lose their connection; 0: any rate. */
  readonly keepaliveMinPingIntervalMs: number;
  /** Connections older than this get GOAWAY, and are cut after the grace; 0: never. */
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  /** Connections with no call open this long get GOAWAY and are closed; 0: never. */
  readonly connectionIdleTimeoutMs: number;
  /** Connections that have not completed their TLS handshake and sent their HTTP/2 preface and SETTINGS this long after opening are closed. */
  readonly handshakeTimeoutMs: number;
  /** TLS (mutual when it has a client CA); plaintext when undefined. */
  readonly tls: TlsFiles | undefined;
  /** Every call but health's is authenticated and authorised; open when undefined. */
  readonly auth: Authenticator | undefined;
  readonly reflection: ReflectionAccess;
  readonly log: Logger;
}

export interface GrpcTransportParts {
  readonly inference: Inference;
  readonly repository: ModelRepository;
  readonly health: HealthRegistry;
  readonly jobs: JobManager;
  /** Metrics and tracing of every call but health and reflection. */
  readonly telemetry: Telemetry;
}

/** gRPC service names the transport registers, as health and reflection know them. */
export const GRPC_SERVICES = [
  'inferd.v1.PredictionService',
  'inferd.v1.ModelService',
  'inferd.v1.JobService',
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
  'inference.GRPCInferenceService',
] as const;

/** The gRPC port: every service inferd speaks, on one grpc-js server. */
export class GrpcTransport {
  private shutdown: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    private readonly calls: CallAdapter,
    private readonly healthService: HealthService,
    private readonly jobs: JobService,
    /** The port bound. */
    readonly port: number,
    /** The gRPC service names served, as health and reflection know them. */
    readonly services: readonly string[],
  ) {}

  /** Builds the server and binds it. Rejects when the address cannot be bound. */
  static async create(parts: GrpcTransportParts, options: GrpcTransportOptions): Promise<GrpcTransport> {
    routeGrpcJsLogs(options.log);
    const interceptors: ServerInterceptor[] = options.auth === undefined ? [] : [authInterceptor(options.auth, { reflection: options.reflection, log: options.log })];
    interceptors.push(refusedRequestInterceptor());
    const server = new Server({
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.max_send_message_length': options.maxMessageBytes,
      'grpc.max_concurrent_streams': options.maxConcurrentStreams,
      ...(options.maxConnectionAgeMs > 0 ? { 'grpc.max_connection_age_ms': options.maxConnectionAgeMs, 'grpc.max_connection_age_grace_ms': options.maxConnectionAgeGraceMs } : {}),
      ...(options.connectionIdleTimeoutMs > 0 ? { 'grpc.max_connection_idle_ms': options.connectionIdleTimeoutMs } : {}),
      interceptors,
    });
    const calls = new CallAdapter({ telemetry: parts.telemetry, requestLimits: options.requestLimits, log: options.log });
    const oip = OipService.load(parts, calls, { maxStreamInFlight: options.maxStreamInFlight });
    const health = new HealthService(parts.health, calls);
    const jobs = new JobService(parts.jobs, calls, { log: options.log });
    const services = GRPC_SERVICES.filter((name) => options.reflection !== 'off' || !name.startsWith('grpc.reflection.'));
    const reflection = ReflectionService.load(services);
    calls.register(server, PREDICTION_SERVICE, predictionService(parts.inference, calls, { maxStreamInFlight: options.maxStreamInFlight }));
    calls.register(server, ModelServiceService, modelService(parts.inference, parts.repository, calls));
    calls.register(server, JobServiceService, jobs.handlers());
    calls.register(server, HealthDefinition, health.handlers());
    if (options.reflection !== 'off') {
      calls.register(server, ReflectionV1, reflection.handlers());
      calls.register(server, ReflectionV1Alpha, reflection.handlers());
    }
    calls.register(server, INFERENCE_SERVICE, oip.handlers());
    const address = options.host.includes(':') ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
    const port = await new Promise<number>((resolve, reject) => {
      const credentials = options.tls === undefined ? ServerCredentials.createInsecure() : tlsServerCredentials(options.tls);
      server.bindAsync(address, credentials, (err, bound) => (err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(bound)));
    });
    applyConnectionPolicy(server, { http2WindowBytes: options.http2WindowBytes, minPingIntervalMs: options.keepaliveMinPingIntervalMs, handshakeTimeoutMs: options.handshakeTimeoutMs, log: options.log });
    return new GrpcTransport(server, calls, health, jobs, port, services);
  }

  /**
   * Stops taking calls and lets those in flight finish: streams end once answered, Watch calls
   * end at once. Resolves true once every call has finished, false if `timeoutMs` passed first
   * (the calls left go on until forceStop). Safe to call twice.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.shutdown ??= new Promise<void>((resolve) => {
      this.healthService.close();
      this.jobs.close();
      void this.calls.drain();
      this.server.tryShutdown(() => resolve());
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const drained = await Promise.race([this.shutdown.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return drained;
  }

  /**
   * Closes every connection. Calls answered just before get up to `graceMs` to reach their
   * clients first (the drain ends by itself once they have).
   */
  async forceStop(graceMs: number): Promise<void> {
    if (!(await this.drain(graceMs))) this.server.forceShutdown();
  }
}
