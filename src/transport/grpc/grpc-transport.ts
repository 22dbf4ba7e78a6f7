import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { HealthService as HealthDefinition } from '../../../generated/grpc/health/v1/health';
import { ServerReflectionService as ReflectionV1 } from '../../../generated/grpc/reflection/v1/reflection';
import { ServerReflectionService as ReflectionV1Alpha } from '../../../generated/grpc/reflection/v1alpha/reflection';
import { ModelServiceService } from '../../../generated/inferd/v1/model_service';
import { PredictionServiceService } from '../../../generated/inferd/v1/prediction_service';
import type { HealthRegistry } from '../../health/health-registry';
import type { Inference } from '../../inference';
import type { ModelRepository } from '../../repository/model-repository';
import { HealthService } from './health-service';
import { modelService } from './model-service';
import { PredictionService } from './prediction-service';
import { ReflectionService } from './reflection-service';

export interface GrpcTransportOptions {
  readonly host: string;
  /** 0 picks a free port; `port` on the transport tells which. */
  readonly port: number;
  /** Largest message received or sent; larger ones get RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
  readonly maxStreamInFlight: number;
  readonly log: Logger;
}

export interface GrpcTransportParts {
  readonly inference: Inference;
  readonly repository: ModelRepository;
  readonly health: HealthRegistry;
}

/** gRPC service names the transport registers, as health and reflection know them. */
export const GRPC_SERVICES = [
  'inferd.v1.PredictionService',
  'inferd.v1.ModelService',
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
] as const;

/** The gRPC port: every service inferd speaks, on one grpc-js server. */
export class GrpcTransport {
  private stopped: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    private readonly prediction: PredictionService,
    private readonly healthService: HealthService,
    /** The port bound. */
    readonly port: number,
  ) {}

  /** Builds the server and binds it. Rejects when the address cannot be bound. */
  static async create(parts: GrpcTransportParts, options: GrpcTransportOptions): Promise<GrpcTransport> {
    const server = new Server({
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.max_send_message_length': options.maxMessageBytes,
    });
    const prediction = new PredictionService(parts.inference, { maxStreamInFlight: options.maxStreamInFlight, log: options.log });
    const health = new HealthService(parts.health);
    const reflection = ReflectionService.load(GRPC_SERVICES);
    server.addService(PredictionServiceService, prediction.handlers());
    server.addService(ModelServiceService, modelService(parts.repository, options.log));
    server.addService(HealthDefinition, health.handlers());
    server.addService(ReflectionV1, reflection.handlers());
    server.addService(ReflectionV1Alpha, reflection.handlers());
    const address = options.host.includes(':') ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(bound)));
    });
    return new GrpcTransport(server, prediction, health, port);
  }

  /**
   * Stops taking calls and lets those in flight finish: streams end once answered, Watch calls
   * end at once. After `timeoutMs`, whatever is left is cut off. Safe to call twice.
   */
  stop(timeoutMs: number): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      this.healthService.close();
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      void this.prediction.drain();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.stopped;
  }
}
