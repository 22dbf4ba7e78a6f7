import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';

/**
 * Sets the HTTP/2 receive windows (the connection's, and each stream's initial one) of every
 * connection the server accepts from now on. HTTP/2's default of 64 KiB lets a client send only
 * 64 KiB before waiting a round trip for the window to reopen, which throttles tensors of a
 * hundred kilobytes and keeps batches from forming. grpc-js 1.14 has a client option for this
 * ('grpc-node.flow_control_window') but none for servers, so this reaches the http2 servers
 * grpc-js keeps (a private field, present through 1.14). Call it after bindAsync. Without that
 * field it changes nothing and logs a warning.
 */
export function widenReceiveWindows(server: Server, bytes: number, log: Logger): void {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    log.warn({ bytes }, 'cannot set HTTP/2 receive windows on this grpc-js: keeping the 64 KiB default');
    return;
  }
  for (const http2Server of servers.keys()) {
    http2Server.on('session', (session: ServerHttp2Session) => {
      session.setLocalWindowSize(bytes);
      session.settings({ initialWindowSize: bytes });
    });
  }
}
