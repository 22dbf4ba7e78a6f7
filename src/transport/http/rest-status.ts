import type { Logger } from 'pino';
import { InferdError, type ErrorCode } from '../../inferd-error';

/**
 * The HTTP status for each InferdError code, as Triton's HTTP server answers the same faults
 * (400 for a bad request, 404 for an unknown model, 503 for what is not available now,
 * timeouts included), with the statuses HTTP has for the rest.
 */
export const HTTP_STATUS_FOR: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  UNAVAILABLE: 503,
  // A queue full or a caller over its rate (a request too large is 413: see tooLarge).
  RESOURCE_EXHAUSTED: 429,
  // Triton answers a request whose timeout passed in the queue 503 ("Request timeout expired").
  DEADLINE_EXCEEDED: 503,
  // The client has gone; Triton answers 400.
  CANCELLED: 400,
  INTERNAL: 500,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
};

const TOO_LARGE = new WeakSet<InferdError>();

/** RESOURCE_EXHAUSTED for a request larger than a limit allows, which HTTP answers 413 (Content Too Large). */
export function tooLarge(message: string): InferdError {
  const err = new InferdError('RESOURCE_EXHAUSTED', message);
  TOO_LARGE.add(err);
  return err;
}

/** Marks an error as one for a request too large (413), and returns it. */
export function asTooLarge(err: InferdError): InferdError {
  if (err.code === 'RESOURCE_EXHAUSTED') TOO_LARGE.add(err);
  return err;
}

/** What a client is answered for an error. */
export interface RestFailure {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * The answer to an error: an InferdError's own status and message; anything else (a bug) is
 * 500 with a generic message, the error itself going to the log whole.
 */
export function restFailure(err: unknown, log: Logger): RestFailure {
  if (err instanceof InferdError) return { status: TOO_LARGE.has(err) ? 413 : HTTP_STATUS_FOR[err.code], code: err.code, message: err.message };
  log.error({ err }, 'unexpected error while serving an HTTP request');
  return { status: 500, code: 'INTERNAL', message: 'internal error' };
}
