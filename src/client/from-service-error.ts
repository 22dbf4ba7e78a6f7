import { status, type ServiceError } from '@grpc/grpc-js';
import { InferdClientError, type StatusName } from './inferd-client-error';

/** The name of a status number; UNKNOWN for a number gRPC does not define. */
export function statusName(code: number): StatusName {
  const name = status[code] as StatusName | 'OK' | undefined;
  return name === undefined || name === 'OK' ? 'UNKNOWN' : name;
}

/**
 * UNAVAILABLE details grpc-js gives when a connection broke while a call was on it: the server
 * may have received the request and acted on it.
 */
const MAYBE_SENT = /^Connection dropped$|ECONNRESET|ETIMEDOUT|RST_STREAM/;

/**
 * A failed call as an InferdClientError. UNAVAILABLE is retryable, unless `idempotent` is false
 * and the request may have reached the server (a connection that broke under the call).
 */
export function fromServiceError(err: ServiceError, idempotent: boolean): InferdClientError {
  const code = statusName(err.code);
  const retryable = code === 'UNAVAILABLE' && (idempotent || !MAYBE_SENT.test(err.details));
  return new InferdClientError(code, err.details, retryable, { cause: err });
}
