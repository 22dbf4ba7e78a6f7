import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { InferdError } from '../../inferd-error';
import { RefusedRequest } from './refused-request';
import { REQUEST_LAYOUTS } from './request-layouts';
import { scanRequest, type RequestLimits } from './scan-request';

/**
 * `definition` with request deserializers that refuse instead of throwing: a request of a method
 * that carries tensors (REQUEST_LAYOUTS) is first scanned, and one over `limits` becomes a
 * RefusedRequest (RESOURCE_EXHAUSTED) before anything of it is decoded; bytes that do not decode
 * become a RefusedRequest (INVALID_ARGUMENT, with the decoder's reason) for every method.
 */
export function guardedService<S extends ServiceDefinition>(definition: S, limits: RequestLimits): S {
  const guarded: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [key, method] of Object.entries(definition) as [string, MethodDefinition<unknown, unknown>][]) {
    const layout = REQUEST_LAYOUTS.get(method.path);
    const decode = method.requestDeserialize;
    const what = layout === undefined ? `request message of ${method.path}` : layout.name;
    guarded[key] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        let id = '';
        if (layout !== undefined) {
          const scan = scanRequest(bytes, layout, limits);
          if (scan.refusal !== undefined) return new RefusedRequest(scan.refusal, scan.id);
          id = scan.id;
        }
        try {
          return decode(bytes);
        } catch (err) {
          return new RefusedRequest(new InferdError('INVALID_ARGUMENT', `the request is not a valid ${what}: ${(err as Error).message}`, { cause: err }), id);
        }
      },
    };
  }
  return guarded as S;
}
