import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { InferdError, type ErrorCode } from '../../inferd-error';

/** The gRPC status for each InferdError code: the one place the two meet. */
export const STATUS_FOR: Readonly<Record<ErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  UNAVAILABLE: status.UNAVAILABLE,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  INTERNAL: status.INTERNAL,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
};

/**
 * The status a client sees for an error: an InferdError's own code and message; for anything
 * else (a bug), INTERNAL with a generic message, the error itself going to the log whole.
 */
export function statusFor(err: unknown, log: Logger): { code: status; details: string } {
  if (err instanceof InferdError) return { code: STATUS_FOR[err.code], details: err.message };
  log.error({ err }, 'unexpected error while serving a call');
  return { code: status.INTERNAL, details: 'internal error' };
}
