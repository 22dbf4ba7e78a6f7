import { Agent, request, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ClientTls } from '../client/client-types';
import { oipDatatype } from '../tensor/oip-codec';
import type { HostTensor } from '../tensor/tensor-types';
import { summarize, type LevelResult } from './summarize';

/** Where the REST binding is, and how to reach it. */
export interface RestTarget {
  readonly host: string;
  /** The HTTP port (--http-port of the server). */
  readonly port: number;
  /** HTTPS, trusting `ca` (the system's roots without it; a client certificate for mutual TLS); plain HTTP when undefined. */
  readonly tls?: ClientTls | undefined;
  /** Sent as "authorization: Bearer <token>". */
  readonly token?: string | undefined;
}

/** One inference request of the REST binding, encoded once and sent again and again. */
export interface RestRequest {
  readonly path: string;
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string | number>>;
}

/**
 * `POST /v2/models/{model}/infer` with every input in binary (Triton's binary tensor data
 * extension: the JSON header, then each input's little-endian bytes) and every output asked for
 * in binary: what Triton's own HTTP client sends by default.
 */
export function restInferRequest(model: string, inputs: readonly { readonly name: string; readonly host: HostTensor }[]): RestRequest {
  const raw = inputs.map(({ host }) => {
    if (Array.isArray(host.data)) throw new Error('inferd bench makes numeric inputs only');
    return Buffer.from(host.data.buffer, host.data.byteOffset, host.data.byteLength);
  });
  const header = Buffer.from(
    JSON.stringify({
      inputs: inputs.map(({ name, host }, i) => ({ name, datatype: oipDatatype(host.type).name, shape: host.dims, parameters: { binary_data_size: raw[i]!.length } })),
      parameters: { binary_data_output: true },
    }),
  );
  const body = Buffer.concat([header, ...raw]);
  return {
    path: `/v2/models/${encodeURIComponent(model)}/infer`,
    body,
    headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, 'inference-header-content-length': header.length },
  };
}

/**
 * `concurrency` loops each POSTing the same request back to back for `durationMs`, over
 * keep-alive connections (one per loop), each answer read whole and not decoded: the REST twin
 * of the raw gRPC load. An answer other than 200 counts as an error, with its body as the message.
 */
export async function restUnaryLoad(target: RestTarget, req: RestRequest, o: { readonly concurrency: number; readonly durationMs: number; readonly rowsPerRequest: number }): Promise<LevelResult> {
  const agentOptions = { keepAlive: true, maxSockets: o.concurrency };
  const agent = target.tls === undefined ? new Agent(agentOptions) : new HttpsAgent({ ...agentOptions, ca: pem(target.tls.ca), cert: pem(target.tls.cert), key: pem(target.tls.key), servername: target.tls.serverName ?? 'localhost' });
  const headers = target.token === undefined ? req.headers : { ...req.headers, authorization: `Bearer ${target.token}` };
  const send = target.tls === undefined ? request : httpsRequest;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const end = started + o.durationMs;
  const once = (): Promise<string | undefined> =>
    new Promise((resolve) => {
      const r = send({ host: target.host, port: target.port, method: 'POST', path: req.path, headers, agent }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(res.statusCode === 200 ? undefined : `${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`));
        res.on('error', (err) => resolve(err.message));
      });
      r.on('error', (err) => resolve(err.message));
      r.end(req.body);
    });
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const failure = await once();
      if (failure === undefined) latencies.push(performance.now() - t0);
      else {
        errors++;
        firstError ??= failure;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, loop));
  } finally {
    agent.destroy();
  }
  return summarize(o.concurrency, (performance.now() - started) / 1000, latencies, o.rowsPerRequest, errors, firstError);
}

function pem(v: Uint8Array | string | undefined): Buffer | string | undefined {
  return v === undefined || typeof v === 'string' ? v : Buffer.from(v);
}
