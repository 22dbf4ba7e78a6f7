import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseJson, type JsonValue } from '../../src/transport/http/parse-json';

export interface RestResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as received (still compressed when the server compressed it). */
  readonly body: Buffer;
}

export interface RestOptions {
  /** A Buffer or string is sent as is; anything else as JSON. */
  readonly body?: Buffer | string | object;
  readonly headers?: Record<string, string | number>;
  /** Send the body in chunks of 1 KiB with no Content-Length (chunked transfer encoding). */
  readonly chunked?: boolean;
  /** HTTPS, verifying the server with `ca` (as "localhost"), with a client certificate if given. */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string };
}

/** One HTTP request to 127.0.0.1 on a connection of its own: the status, headers and body. */
export function rest(port: number, method: string, path: string, options: RestOptions = {}): Promise<RestResponse> {
  const { body, tls } = options;
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const common = { host: '127.0.0.1', port, path, method, agent: false, headers: { ...(payload === undefined || options.chunked === true ? {} : { 'content-length': payload.length }), ...options.headers } };
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    };
    const req = tls === undefined ? request(common, onResponse) : httpsRequest({ ...common, servername: 'localhost', ca: tls.ca, cert: tls.cert, key: tls.key }, onResponse);
    req.on('error', reject);
    if (options.chunked === true && payload !== undefined) {
      for (let at = 0; at < payload.length; at += 1024) req.write(payload.subarray(at, at + 1024));
      req.end();
    } else req.end(payload);
  });
}

/** A response body as exact JSON (INT64 / UINT64 beyond 2^53 as bigints). */
export function exactJson(body: Uint8Array): JsonValue {
  return parseJson(body, 'the response', { maxValues: 1e9, maxStrings: 1e9, valuesFlag: '', stringsFlag: '' });
}

/** A JSON body as plain data (numbers as JSON.parse reads them), typed as the caller expects it. */
export function json<T>(r: RestResponse): T {
  return JSON.parse(r.body.toString('utf8')) as T;
}

/** The message of an error answer: its `{"error": ...}`. */
export function errorOf(r: RestResponse): string {
  return json<{ error: string }>(r).error;
}
