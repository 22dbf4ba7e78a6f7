import { status, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Telemetry } from '../../telemetry/telemetry';
import { GRPC_OK, grpcOutcome, traceHeaders } from './call-telemetry';

/**
 * `handlers` with each unary method wrapped in a server span (service and method from the
 * definition's paths), ended with the status the handler answers. Streaming methods are left
 * as they are. For services whose calls are not inference requests (ModelService, JobService).
 */
export function traceUnaryCalls<H extends object>(definition: ServiceDefinition, handlers: H, telemetry: Telemetry): H {
  if (telemetry.tracing === undefined) return handlers;
  const wrapped: UntypedServiceImplementation = { ...(handlers as UntypedServiceImplementation) };
  for (const [key, method] of Object.entries(definition)) {
    const handler = wrapped[key];
    if (method.requestStream || method.responseStream || typeof handler !== 'function') continue;
    const [, service = '', name = ''] = /^\/([^/]+)\/([^/]+)$/.exec(method.path) ?? [];
    const unary = handler as (call: { metadata: import('@grpc/grpc-js').Metadata }, callback: (err: unknown, ...rest: unknown[]) => void) => void;
    wrapped[key] = ((call: { metadata: import('@grpc/grpc-js').Metadata }, callback: (err: unknown, ...rest: unknown[]) => void) => {
      const traced = telemetry.startCall(service, name, () => traceHeaders(call.metadata));
      unary(call, (err, ...rest) => {
        if (err === null || err === undefined) traced.end(GRPC_OK);
        else {
          const e = err as { code?: number; details?: string; message?: string };
          traced.end(grpcOutcome({ code: e.code ?? status.UNKNOWN, details: e.details ?? e.message }));
        }
        callback(err, ...rest);
      });
    }) as UntypedServiceImplementation[string];
  }
  return wrapped as H;
}
