import type { Logger } from 'pino';
import type { ServeConfig } from './config';
import { InferdError } from './inferd-error';
import { HealthRegistry } from './health/health-registry';
import { Inference } from './inference';
import { ModelRepository } from './repository/model-repository';
import { GRPC_SERVICES, GrpcTransport } from './transport/grpc/grpc-transport';

/** After the drain timeout, how long calls failed with UNAVAILABLE get to reach their clients. */
const FLUSH_GRACE_MS = 1000;

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
    private readonly transport: GrpcTransport,
  ) {}

  /**
   * Loads the repository and starts serving. Settles once the port is bound and every model has
   * finished loading (a model that failed to load is reported, not fatal). Rejects when the
   * repository folder cannot be read or the port cannot be bound.
   */
  static async create(config: ServeConfig, log: Logger): Promise<InferdServer> {
    const health = new HealthRegistry();
    const repository = await ModelRepository.create({
      root: config.models,
      defaults: {
        instances: config.instances,
        maxQueueSize: config.maxQueueSize,
        session: { intraOpThreads: config.intraOpThreads, interOpThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' },
      },
      control: config.modelControl,
      pollMs: config.repositoryPollMs,
      log,
    });
    const syncModel = (name: string): void => health.set(name, repository.isReady(name) ? 'SERVING' : 'NOT_SERVING');
    for (const name of repository.modelNames()) syncModel(name);
    repository.on('change', syncModel);
    repository.on('removed', (name) => health.remove(name));

    const inference = new Inference(repository);
    let transport: GrpcTransport;
    try {
      transport = await GrpcTransport.create(
        { inference, repository, health },
        { host: config.host, port: config.port, maxMessageBytes: config.maxMessageBytes, maxStreamInFlight: config.maxStreamInFlight, log },
      );
    } catch (err) {
      await repository.close();
      throw err;
    }
    for (const name of GRPC_SERVICES) health.set(name, 'SERVING');
    health.set('', 'SERVING');
    const models = repository.modelNames().map((name) => ({ name, ready: repository.isReady(name) }));
    log.info({ host: config.host, port: transport.port, models }, 'serving');
    return new InferdServer(config, log, health, repository, inference, transport);
  }

  /** The gRPC port bound (useful when the configuration asked for port 0). */
  get port(): number {
    return this.transport.port;
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
      this.inference.stopAccepting();
      if (!(await this.transport.drain(this.config.drainTimeoutMs))) {
        this.log.warn({ drainTimeoutMs: this.config.drainTimeoutMs }, 'drain timeout passed: cutting off calls in flight');
        this.repository.abandon(new InferdError('UNAVAILABLE', 'server is shutting down: the drain timeout passed before the model finished'));
        await this.transport.forceStop(FLUSH_GRACE_MS);
      }
      await this.repository.close();
      this.log.info({ drainMs: Math.round(performance.now() - started) }, 'stopped');
    })();
    return this.closed;
  }
}
