import type { ServerWritableStream } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus as Serving,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from '../../../generated/grpc/health/v1/health';
import { clipText } from '../../clip-text';
import type { HealthRegistry, ServingStatus } from '../../health/health-registry';
import { InferdError } from '../../inferd-error';
import type { CallAdapter } from './call-adapter';

const WIRE: Readonly<Record<ServingStatus, Serving>> = { SERVING: Serving.SERVING, NOT_SERVING: Serving.NOT_SERVING };

/**
 * grpc.health.v1.Health over the registry. `close()` ends every Watch (after telling it the
 * current status) so that a graceful stop does not wait on them.
 */
export class HealthService {
  private readonly watches = new Set<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>();

  constructor(
    private readonly registry: HealthRegistry,
    private readonly calls: CallAdapter,
  ) {}

  handlers(): HealthServer {
    return {
      check: this.calls.unary(
        (request) => {
          const s = this.registry.get(request.service);
          if (s === undefined) throw new InferdError('NOT_FOUND', `unknown service "${clipText(request.service)}"`);
          return { status: WIRE[s] };
        },
        { traced: false },
      ),
      list: this.calls.unary(
        () => {
          const statuses: Record<string, HealthCheckResponse> = {};
          for (const [name, s] of this.registry.all()) statuses[name] = { status: WIRE[s] };
          return { statuses };
        },
        { traced: false },
      ),
      watch: (call) => {
        const name = call.request.service;
        const send = (s: ServingStatus | undefined): void => {
          call.write({ status: s === undefined ? Serving.SERVICE_UNKNOWN : WIRE[s] });
        };
        const onChange = (changed: string, s: ServingStatus | undefined): void => {
          if (changed === name) send(s);
        };
        const stop = (): void => {
          this.registry.off('change', onChange);
          this.watches.delete(call);
        };
        this.registry.on('change', onChange);
        this.watches.add(call);
        call.on('cancelled', stop);
        call.on('finish', stop);
        send(this.registry.get(name));
      },
    };
  }

  /** Ends every open Watch. */
  close(): void {
    for (const call of this.watches) call.end();
    this.watches.clear();
  }
}
