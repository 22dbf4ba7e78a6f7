import {
  constants,
  type Http2Server,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
  type ServerStreamResponseOptions,
} from 'node:http2';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MAX_PING_STRIKES } from '../../security/ping-strikes';
import { certificateSubject } from '../../security/certificate-identity';

export interface ConnectionPolicyOptions {
  /** HTTP/2 receive window per connection and per stream. */
  readonly http2WindowBytes: number;
  /** A client that pings more often than this, more than MAX_PING_STRIKES times, loses its connection. 0: never. */
  readonly minPingIntervalMs: number;
  /** A connection that has not sent its HTTP/2 preface and SETTINGS (after its TLS handshake) this long after it opened is closed. */
  readonly handshakeTimeoutMs: number;
  readonly log: Logger;
}

/**
 * What inferd does to each connection it accepts that grpc-js has no option for:
 *
 * - Receive windows. HTTP/2's default of 64 KiB lets a client send only 64 KiB before waiting a
 *   round trip for the window to reopen, which throttles tensors of a hundred kilobytes and
 *   keeps batches from forming. grpc-js 1.14 has a client option for this
 *   ('grpc-node.flow_control_window') but none for servers.
 * - Keepalive enforcement. A client that pings sooner than `minPingIntervalMs` after its
 *   previous ping, while the server sent it no headers or data in between, gets a strike (data
 *   sent or a new call clears them, as in gRPC's C and Go servers); past MAX_PING_STRIKES it
 *   gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (which gRPC clients answer by pinging less)
 *   and the connection is closed; like gRPC's servers, calls still open on it fail on the
 *   client. grpc-js servers answer every ping, however many.
 * - Handshake timeout. A connection that has not completed its TLS handshake and sent its
 *   HTTP/2 preface and SETTINGS within `handshakeTimeoutMs` of opening is closed. Besides slow
 *   or silent clients, this frees connections Node's http2 leaves behind: after a protocol error
 *   in the client's first frame (say a SETTINGS frame announcing 1,000 bytes, 2 sent), nghttp2
 *   sends GOAWAY and Node stops reading the socket but never closes it, so even the client's
 *   FIN goes unseen and the descriptor stays in CLOSE_WAIT for good. (Connections past their
 *   handshake are closed once idle by grpc-js's `grpc.max_connection_idle_ms`.)
 * - Responses that cannot be sent reset their call. When Node refuses the headers or trailers
 *   grpc-js sends (it throws), the stream gets RST_STREAM INTERNAL_ERROR, so that the client
 *   fails at once instead of waiting for its deadline; nothing is thrown into grpc-js, which
 *   sends trailers from an event listener, where a throw would end the process.
 * - The verified client certificate's subject (mutual TLS) goes to the debug log per connection.
 *
 * It reaches the http2 servers grpc-js keeps (a private field, present through 1.14): call it
 * after bindAsync. Without that field it changes nothing and logs a warning.
 */
export function applyConnectionPolicy(server: Server, options: ConnectionPolicyOptions): void {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    options.log.warn(
      {},
      'cannot reach grpc-js connections: keeping 64 KiB HTTP/2 windows, no keepalive enforcement and no handshake timeout',
    );
    return;
  }
  const guard = responseGuard(options.log);
  for (const http2Server of servers.keys()) {
    const handshakes = handshakeTimers(http2Server, options.handshakeTimeoutMs, options.log);
    http2Server.on('session', (session: ServerHttp2Session) => {
      session.once('remoteSettings', () => handshakes.done(session.socket));
      // Before grpc-js's own listener, which may answer at once.
      session.prependListener('stream', guard);
      session.setLocalWindowSize(options.http2WindowBytes);
      session.settings({ initialWindowSize: options.http2WindowBytes });
      if (options.minPingIntervalMs > 0) policePings(session, options.minPingIntervalMs, options.log);
      const socket = session.socket;
      if (socket instanceof TLSSocket && socket.authorized && options.log.isLevelEnabled('debug')) {
        options.log.debug(
          {
            remote: `${socket.remoteAddress}:${socket.remotePort}`,
            clientSubject: certificateSubject(socket.getPeerCertificate()),
          },
          'client connected with a certificate',
        );
      }
    });
  }
}

/** The 4-tuple of a connection, the same on its raw socket, its TLS socket and its session's socket. */
function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}|${socket.localAddress}|${socket.localPort}`;
}

/**
 * Starts a timer for each connection `server` accepts, which closes it unless `done` is called
 * for it first. The timer is cleared when the connection closes.
 */
function handshakeTimers(server: Http2Server, timeoutMs: number, log: Logger): { done(socket: Socket): void } {
  const timers = new Map<string, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    const key = connectionKey(socket);
    const timer = setTimeout(() => {
      timers.delete(key);
      log.debug(
        { remote: `${socket.remoteAddress}:${socket.remotePort}`, handshakeTimeoutMs: timeoutMs },
        'connection did not complete its handshake in time: closing it',
      );
      socket.destroy();
    }, timeoutMs);
    timers.set(key, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      if (timers.get(key) === timer) timers.delete(key);
    });
  });
  return {
    done(socket) {
      const key = connectionKey(socket);
      clearTimeout(timers.get(key));
      timers.delete(key);
    },
  };
}

/**
 * What makes a server stream reset itself when its headers or trailers cannot be sent: own
 * `respond` and `sendTrailers` methods (shared by every stream) that call Node's and, when it
 * throws, log the error and close the stream with INTERNAL_ERROR.
 */
function responseGuard(log: Logger): (stream: ServerHttp2Stream) => void {
  const reset = (stream: ServerHttp2Stream, err: unknown): void => {
    log.error({ err, streamId: stream.id }, 'cannot send the headers or status of a call: resetting it');
    if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  };
  function respond(
    this: ServerHttp2Stream,
    headers?: OutgoingHttpHeaders,
    options?: ServerStreamResponseOptions,
  ): void {
    try {
      (Object.getPrototypeOf(this) as ServerHttp2Stream).respond.call(this, headers, options);
    } catch (err) {
      reset(this, err);
    }
  }
  function sendTrailers(this: ServerHttp2Stream, headers: OutgoingHttpHeaders): void {
    try {
      (Object.getPrototypeOf(this) as ServerHttp2Stream).sendTrailers.call(this, headers);
    } catch (err) {
      reset(this, err);
    }
  }
  return (stream) => {
    stream.respond = respond;
    stream.sendTrailers = sendTrailers;
  };
}

/** Bytes of one PING acknowledgement frame: what the server writes between two pings when it sends nothing else. */
const PING_ACK_BYTES = 17;
/** Bytes beyond the acknowledgement that mean the server sent headers or data, not just a SETTINGS ack or WINDOW_UPDATE (9 and 13). */
const CONTROL_FRAME_BYTES = 24;

function policePings(session: ServerHttp2Session, minPingIntervalMs: number, log: Logger): void {
  let last = -Infinity;
  let writtenAtLast = 0;
  let strikes = 0;
  let lastStreamId = 0;
  session.on('stream', (stream: ServerHttp2Stream) => {
    lastStreamId = Math.max(lastStreamId, stream.id ?? 0);
    strikes = 0;
  });
  session.on('ping', () => {
    const now = performance.now();
    const written = session.socket.bytesWritten;
    // As gRPC's own servers do, a ping counts against a client only when the server has sent
    // it nothing since the previous one: pings while responses flow (BDP pings) are fine.
    const sentData = written - writtenAtLast > PING_ACK_BYTES + CONTROL_FRAME_BYTES;
    if (sentData) strikes = 0;
    else if (now - last < minPingIntervalMs) strikes++;
    last = now;
    writtenAtLast = written;
    if (strikes <= MAX_PING_STRIKES || session.closed) return;
    const socket = session.socket;
    log.warn(
      { remote: `${socket.remoteAddress}:${socket.remotePort}`, minPingIntervalMs },
      'client pings too often: closing its connection',
    );
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM, lastStreamId, Buffer.from('too_many_pings'));
    session.close();
  });
}
