import { format } from 'node:util';
import { setLogger } from '@grpc/grpc-js';
import type { Logger } from 'pino';

/** Whatever follows "authorization" in a line: grpc-js writes a refused metadata entry out whole. */
const CREDENTIAL = /(authorization\s*[:=]?\s*)\S.*$/gim;

/**
 * Sends grpc-js's own log lines (errors by default; GRPC_VERBOSITY and GRPC_TRACE as usual) to
 * our log instead of stderr, with any "authorization" value cut out: grpc-js logs a metadata
 * entry it cannot take (a token with a tab or a non-ASCII byte) with its value.
 * grpc-js has one logger per process, so the last server created sets it.
 */
export function routeGrpcJsLogs(log: Logger): void {
  const line = (args: unknown[]): string => format(...args).replace(CREDENTIAL, '$1[redacted]');
  setLogger({
    error: (...args: unknown[]) => log.error({ grpc: line(args) }, 'grpc-js'),
    info: (...args: unknown[]) => log.info({ grpc: line(args) }, 'grpc-js'),
    debug: (...args: unknown[]) => log.debug({ grpc: line(args) }, 'grpc-js'),
  });
}
