import type { InferdError } from '../../inferd-error';

/**
 * What a request deserializer hands on in place of a message it refuses (see guardedService):
 * grpc-js answers every deserializer that throws with INTERNAL, while a caller's bytes that
 * cannot be decoded are INVALID_ARGUMENT and one over a limit RESOURCE_EXHAUSTED. Handlers of
 * the methods that carry tensors answer it themselves (`check`), so that it is counted and
 * traced, and a stream answers it with an error and goes on; refusedRequestInterceptor answers
 * it for every other method.
 */
export class RefusedRequest {
  constructor(
    readonly error: InferdError,
    /** The request's id as far as it could be read, '' otherwise: a stream's error answer carries it. */
    readonly id: string,
  ) {}

  /** `request` itself, or throws its error when it is a RefusedRequest. */
  static check<T>(request: T): T {
    if (request instanceof RefusedRequest) throw request.error;
    return request;
  }
}
