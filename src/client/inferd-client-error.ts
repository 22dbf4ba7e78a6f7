/** gRPC status names (every status but OK). */
export type StatusName =
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

/**
 * Every failure of an InferdClient call. `code` is the gRPC status name, `message` the server's
 * details (or the client's, for a request refused before it was sent), `retryable` whether the
 * same call may be made again safely (the client has already done so, up to its `retries`).
 */
export class InferdClientError extends Error {
  override readonly name = 'InferdClientError';

  constructor(
    readonly code: StatusName,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
