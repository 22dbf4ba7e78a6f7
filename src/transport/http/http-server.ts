import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createSecureServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { InferdError } from '../../inferd-error';
import type { Authenticator } from '../../security/authenticator';
import { certificateIdentity } from '../../security/certificate-identity';
import type { TlsFiles } from '../../security/tls-files';
import type { ServingMetrics } from '../../telemetry/serving-metrics';

export interface MetricsHttpServerOptions {
  readonly host: string;
  /** 0 picks a free port; `port` on the server tells which. */
  readonly port: number;
  readonly metrics: ServingMetrics;
  /** Whether the server takes traffic: /readyz answers 200 when true, 503 when false. */
  readonly ready: () => boolean;
  /** HTTPS with these files (following their rotation); plain HTTP when undefined. */
  readonly tls: TlsFiles | undefined;
  /** With it, /metrics needs a caller with the scope "metrics" (health stays open). */
  readonly auth: Authenticator | undefined;
  /** A connection that has not sent a whole request (after its TLS handshake) this long after opening or after its previous answer is closed (408). */
  readonly handshakeTimeoutMs: number;
  /** Keep-alive connections are closed after KEEP_ALIVE_MS without a request, or this if shorter; 0: no more than that. */
  readonly connectionIdleTimeoutMs: number;
  readonly log: Logger;
}

/** How long a keep-alive connection waits for its next request (Node's default). */
const KEEP_ALIVE_MS = 5_000;
/** How often, at most, Node checks connections for their request timeout. */
const TIMEOUT_CHECK_MS = 1_000;

/**
 * The HTTP port for what does not speak gRPC: GET /metrics (Prometheus text format), /healthz
 * (200 while the process runs) and /readyz (200 when serving, 503 otherwise: loading or
 * draining). Anything else is 404; a method other than GET or HEAD is 405.
 *
 * With TLS it is HTTPS on the gRPC port's certificate. /healthz and /readyz stay open to probes,
 * which seldom hold client certificates or tokens; /metrics asks what the gRPC port asks: a
 * verified client certificate under mutual TLS (else 401), and the scope "metrics" under
 * authentication (401 without credentials, 403 without the scope, 429 past the caller's rate).
 *
 * Connections do not linger: a client gets `handshakeTimeoutMs` for its TLS handshake and then
 * for each request (else 408 and the connection is closed), and a keep-alive connection is closed
 * after 5 s without a request (`connectionIdleTimeoutMs` if shorter). A client that closes its
 * side (FIN) has its connection closed once the answer to a request in flight is sent.
 */
export class MetricsHttpServer {
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    /** The port bound. */
    readonly port: number,
  ) {}

  /** Binds the port. Rejects when the address cannot be bound. */
  static async create(options: MetricsHttpServerOptions): Promise<MetricsHttpServer> {
    const handle = (req: IncomingMessage, res: ServerResponse): void => void answer(req, res, options);
    const timeouts = {
      headersTimeout: options.handshakeTimeoutMs,
      requestTimeout: options.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, options.handshakeTimeoutMs),
      keepAliveTimeout: options.connectionIdleTimeoutMs > 0 ? Math.min(KEEP_ALIVE_MS, options.connectionIdleTimeoutMs) : KEEP_ALIVE_MS,
    };
    const tls = options.tls;
    let server: Server;
    if (tls === undefined) server = createServer(timeouts, handle);
    else {
      const context = (m = tls.current): { cert: Buffer; key: Buffer; ca: Buffer | undefined } => ({ cert: m.cert, key: m.key, ca: m.clientCa });
      // Client certificates are asked for but not required at the handshake, so probes without one reach /healthz.
      const secure = createSecureServer({ ...context(), ...timeouts, handshakeTimeout: options.handshakeTimeoutMs, requestCert: tls.mutual, rejectUnauthorized: false }, handle);
      tls.onChange((m) => secure.setSecureContext(context(m)));
      server = secure;
    }
    const address = options.host.includes(':') ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot listen on ${address} (HTTP): ${err.message}`, { cause: err })));
      server.listen(options.port, options.host, () => {
        const bound = server.address();
        resolve(typeof bound === 'object' && bound !== null ? bound.port : options.port);
      });
    });
    return new MetricsHttpServer(server, port);
  }

  /** Stops listening and closes every connection. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closed;
  }
}

async function answer(req: IncomingMessage, res: ServerResponse, options: MetricsHttpServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const send = (code: number, body: string, contentType = 'text/plain; charset=utf-8'): void => {
    res.writeHead(code, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(405, 'method not allowed\n');
    return;
  }
  try {
    if (path === '/metrics') {
      const refused = await refusal(req, options);
      if (refused !== undefined) {
        if (refused.status === 401) res.setHeader('www-authenticate', 'Bearer');
        send(refused.status, `${refused.message}\n`);
        return;
      }
      const { body, contentType } = await options.metrics.text();
      send(200, body, contentType);
    } else if (path === '/healthz') send(200, 'ok\n');
    else if (path === '/readyz') {
      if (options.ready()) send(200, 'ready\n');
      else send(503, 'not ready\n');
    } else send(404, 'not found: try /metrics, /healthz or /readyz\n');
  } catch (err) {
    options.log.error({ err }, 'cannot answer an HTTP request');
    send(500, 'internal error\n');
  }
}

const HTTP_STATUS: Partial<Record<InferdError['code'], number>> = { UNAUTHENTICATED: 401, PERMISSION_DENIED: 403, RESOURCE_EXHAUSTED: 429 };

/** Why /metrics is refused to this request, if it is. */
async function refusal(req: IncomingMessage, options: MetricsHttpServerOptions): Promise<{ status: number; message: string } | undefined> {
  const socket = req.socket as TLSSocket;
  const verified = options.tls !== undefined && socket.authorized === true;
  if (options.tls?.mutual === true && !verified) return { status: 401, message: 'a client certificate signed by the client CA is needed' };
  if (options.auth === undefined) return undefined;
  try {
    const principal = await options.auth.authenticate(req.headers.authorization, verified ? certificateIdentity(socket.getPeerCertificate()) : undefined);
    options.auth.authorize(principal, 'metrics', 'GET /metrics');
    options.auth.admit(principal);
    return undefined;
  } catch (err) {
    if (!(err instanceof InferdError) || HTTP_STATUS[err.code] === undefined) throw err;
    options.log.info({ path: '/metrics', code: err.code, reason: err.message }, 'request refused');
    return { status: HTTP_STATUS[err.code]!, message: err.message };
  }
}
