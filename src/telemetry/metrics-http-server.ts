import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ServingMetrics } from './serving-metrics';

export interface MetricsHttpServerOptions {
  readonly host: string;
  /** 0 picks a free port; `port` on the server tells which. */
  readonly port: number;
  readonly metrics: ServingMetrics;
  /** Whether the server takes traffic: /readyz answers 200 when true, 503 when false. */
  readonly ready: () => boolean;
  readonly log: Logger;
}

/**
 * The HTTP port for what does not speak gRPC: GET /metrics (Prometheus text format), /healthz
 * (200 while the process runs) and /readyz (200 when serving, 503 otherwise: loading or
 * draining). Anything else is 404; a method other than GET or HEAD is 405.
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
    const server = createServer((req, res) => void answer(req, res, options));
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
