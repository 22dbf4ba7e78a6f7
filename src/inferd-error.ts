/**
 * The one error type that reaches clients. Every fault a caller can cause or observe is an
 * InferdError with one of these codes; the transport maps each code to its own status (see
 * transport/grpc/status-for.ts). Anything else thrown inside the server is a bug: the transport
 * logs it whole and answers INTERNAL with a generic message.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'UNAVAILABLE',
  'RESOURCE_EXHAUSTED',
  'DEADLINE_EXCEEDED',
  'CANCELLED',
  'INTERNAL',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class InferdError extends Error {
  override readonly name = 'InferdError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
