import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createSecureServer } from 'node:https';
import type { Logger } from 'pino';
import type { Authenticator } from '../../security/authenticator';
import type { TlsFiles } from '../../security/tls-files';
import type { ServingMetrics } from '../../telemetry/serving-metrics';
import { httpRefusal } from './http-access';
import { RestApi } from './rest-api';

export interface HttpServerOptions {
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
 * draining), and under /v2 the Open Inference Protocol's REST binding (RestApi) once
 * `serveApi` hands it over: until then, while models load, /v2/health/live answers 200,
 * /v2/health/ready 400 and the rest 503. Anything else is 404; a method other than GET or HEAD
 * on the first three is 405.
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
export class HttpServer {
  private closed: Promise<void> | undefined;
  private api: RestApi | undefined;

  private constructor(
    private readonly server: Server,
    /** The port bound. */
    readonly port: number,
  ) {}

  /** Binds the port. Rejects when the address cannot be bound. */
  static async create(options: HttpServerOptions): Promise<HttpServer> {
    let self: HttpServer | undefined;
    const handle = (req: IncomingMessage, res: ServerResponse): void => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (RestApi.handles(path)) void answerApi(self?.api, req, res, path);
      else void answer(req, res, options);
    };
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
    self = new HttpServer(server, port);
    return self;
  }

  /** From now on, requests under /v2 go to `api`. */
  serveApi(api: RestApi): void {
    this.api = api;
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

async function answer(req: IncomingMessage, res: ServerResponse, options: HttpServerOptions): Promise<void> {
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
      const refused = await httpRefusal(req, 'metrics', 'GET /metrics', options);
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
    } else send(404, 'not found: try /metrics, /healthz, /readyz or /v2\n');
  } catch (err) {
    options.log.error({ err }, 'cannot answer an HTTP request');
    send(500, 'internal error\n');
  }
}

/** A request under /v2: to the API once it is served; before that, only liveness is answered. */
function answerApi(api: RestApi | undefined, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (api !== undefined) return api.answer(req, res, path);
  const status = path === '/v2/health/live' ? 200 : path === '/v2/health/ready' ? 400 : 503;
  const body = status === 503 ? JSON.stringify({ error: 'the server is starting: models are loading' }) : '';
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  return Promise.resolve();
}
