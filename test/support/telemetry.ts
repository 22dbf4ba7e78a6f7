import { request, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Metadata } from '@grpc/grpc-js';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { Tracing } from '../../src/telemetry/tracing';

/** Tracing into memory: every span is in `exporter` as soon as it ends. */
export function memoryTracing(): { tracing: Tracing; exporter: InMemorySpanExporter; provider: BasicTracerProvider } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { tracing: new Tracing(provider.getTracer('inferd-test')), exporter, provider };
}

/** A caller's trace context: W3C traceparent metadata with fixed, recognisable ids. */
export const CALLER = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };

export function callerMetadata(): Metadata {
  const m = new Metadata();
  m.set('traceparent', `00-${CALLER.traceId}-${CALLER.spanId}-01`);
  return m;
}

/** The spans ended so far, settling once `ready` holds for them (checked as spans end; 10 s at most). */
export async function spansWhen(
  exporter: InMemorySpanExporter,
  ready: (spans: ReadableSpan[]) => boolean,
): Promise<ReadableSpan[]> {
  const until = Date.now() + 10_000;
  for (;;) {
    const spans = exporter.getFinishedSpans();
    if (ready(spans)) return spans;
    if (Date.now() > until) throw new Error(`spans never matched; have: ${spans.map((s) => s.name).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface GetOptions {
  /** HTTPS, verifying the server with `ca` (as "localhost"), with a client certificate if given. */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string };
  readonly headers?: Record<string, string>;
}

/** GET from 127.0.0.1 over HTTP (or HTTPS with `tls`): the status code and body. */
export function httpGet(
  port: number,
  path: string,
  options: GetOptions = {},
): Promise<{ status: number; body: string }> {
  const tls = options.tls;
  return new Promise((resolve, reject) => {
    const common = { host: '127.0.0.1', port, path, method: 'GET', agent: false, headers: options.headers };
    const onResponse = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const req =
      tls === undefined
        ? request(common, onResponse)
        : httpsRequest({ ...common, servername: 'localhost', ca: tls.ca, cert: tls.cert, key: tls.key }, onResponse);
    req.on('error', reject);
    req.end();
  });
}
