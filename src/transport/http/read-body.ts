import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { InferdError } from '../../inferd-error';
import { tooLarge } from './rest-status';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);

/**
 * The whole body of a request, decompressed as its Content-Encoding says (gzip; deflate, which
 * is zlib's format as HTTP defines it, or raw deflate as some clients send it; identity).
 * `maxBytes` bounds the body as sent and again once decompressed.
 *
 * Rejects with RESOURCE_EXHAUSTED (answered 413) naming the limit and its flag as soon as either
 * passes it: at once from Content-Length, else while reading (the rest is not read: the caller
 * answers and closes the connection). Rejects with INVALID_ARGUMENT for a body that is not what
 * its encoding says, and with an InferdError marked by `unsupportedEncoding` for an encoding
 * inferd does not take.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate' && encoding !== '') throw unsupportedEncoding(encoding);
  const over = (what: string): InferdError => tooLarge(`the request body${what === '' ? '' : ` ${what}`} is over the limit of ${maxBytes} bytes (--max-message-bytes)`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw over(`(${declared} bytes)`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw over('');
    chunks.push(chunk);
  }
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  if (encoding !== 'gzip' && encoding !== 'deflate') return body;
  try {
    if (encoding === 'gzip') return await gunzip(body, { maxOutputLength: maxBytes });
    try {
      return await inflate(body, { maxOutputLength: maxBytes });
    } catch (err) {
      // Not zlib's format (its 2-byte header): raw deflate, as some clients send it.
      if ((err as { code?: string }).code !== 'Z_DATA_ERROR') throw err;
      return await inflateRaw(body, { maxOutputLength: maxBytes });
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw over('once decompressed');
    throw new InferdError('INVALID_ARGUMENT', `the request body is not valid ${encoding} data: ${(err as Error).message}`, { cause: err });
  }
}

const UNSUPPORTED = new WeakSet<InferdError>();

/** INVALID_ARGUMENT for a Content-Encoding inferd does not take (answered 415, with Accept-Encoding). */
function unsupportedEncoding(encoding: string): InferdError {
  const err = new InferdError('INVALID_ARGUMENT', `unsupported Content-Encoding "${encoding.slice(0, 64)}": send gzip, deflate or identity`);
  UNSUPPORTED.add(err);
  return err;
}

/** True for the error readBody rejects with when the Content-Encoding is not one it takes. */
export function isUnsupportedEncoding(err: unknown): boolean {
  return err instanceof InferdError && UNSUPPORTED.has(err);
}
