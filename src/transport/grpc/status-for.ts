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

/** A gRPC status as a call or a stream's message is answered with it. */
export interface CallStatus {
  readonly code: status;
  readonly details: string;
}

/**
 * What a handler throws for a method inferd does not serve (UNIMPLEMENTED): a status of gRPC's
 * own, with no InferdError code, since no other front end has such methods.
 */
export class Unimplemented extends Error {
  override readonly name = 'Unimplemented';
}

/**
 * Most UTF-8 bytes of a status message. grpc-message percent-encodes it into at most three
 * times as many, well under the 8 KiB of metadata that gRPC's C++ and Java clients take (and
 * the 64 KiB header field grpc-js's clients decode): a longer trailer makes the client drop
 * the connection, and its call waits for its deadline.
 */
export const MAX_STATUS_DETAILS_BYTES = 2048;

/**
 * The status a client sees for an error: an InferdError's own code and message (cut to
 * MAX_STATUS_DETAILS_BYTES, see statusDetails), UNIMPLEMENTED for Unimplemented; for anything
 * else (a bug), INTERNAL with a generic message, the error itself going to the log whole.
 */
export function statusFor(err: unknown, log: Logger): CallStatus {
  if (err instanceof InferdError) return { code: STATUS_FOR[err.code], details: statusDetails(err.message) };
  if (err instanceof Unimplemented) return { code: status.UNIMPLEMENTED, details: statusDetails(err.message) };
  log.error({ err }, 'unexpected error while serving a call');
  return { code: status.INTERNAL, details: 'internal error' };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ELLIPSIS_BYTES = Buffer.byteLength('…');

/**
 * A message as a status can carry it: lone surrogates (which grpc-js cannot percent-encode: it
 * would throw instead of answering) replaced by U+FFFD, and, past MAX_STATUS_DETAILS_BYTES of
 * UTF-8, cut there with "…". Every status inferd sends with a message of its own goes through it.
 */
export function statusDetails(message: string): string {
  // A character takes at least one byte: what lies past this many is cut anyway.
  const head = message.length > MAX_STATUS_DETAILS_BYTES ? message.slice(0, MAX_STATUS_DETAILS_BYTES + 1) : message;
  const text = head.replace(LONE_SURROGATE, '\uFFFD');
  if (Buffer.byteLength(text) <= MAX_STATUS_DETAILS_BYTES) return text;
  const room = MAX_STATUS_DETAILS_BYTES - ELLIPSIS_BYTES;
  let bytes = 0;
  let end = 0;
  while (end < text.length) {
    const cp = text.codePointAt(end)!;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > room) break;
    bytes += size;
    end += size === 4 ? 2 : 1;
  }
  return `${text.slice(0, end)}…`;
}
