import { PredictResponse, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import type { Tensor } from '../../../generated/inferd/v1/tensor';
import { varintSize, writeVarint } from '../../tensor/varint';

/**
 * The wire bytes of a PredictResponse, byte for byte what the generated encoder writes, in one
 * buffer sized in advance: the generated BinaryWriter grows its chunks, forks and joins each
 * nested message, and made ~9% of the server's busy time under one PredictStream of a tiny
 * model (docs/benchmarks.md). Answers whose outputs are all in raw_data (what a client that
 * sends raw_data gets) take this path; any other falls back to the generated encoder.
 */
export function predictResponseBytes(response: PredictResponse): Buffer {
  const size = responseSize(response);
  if (size < 0) return view(PredictResponse.encode(response).finish());
  const buf = Buffer.allocUnsafe(size);
  const end = writeResponse(buf, 0, response);
  return end === size ? buf : view(PredictResponse.encode(response).finish());
}

/** The wire bytes of a PredictStreamResponse (see predictResponseBytes); an `error` answer takes the generated encoder. */
export function predictStreamResponseBytes(message: PredictStreamResponse): Buffer {
  const { response } = message;
  const size = response === undefined || message.error !== undefined ? -1 : responseSize(response);
  if (size < 0) return view(PredictStreamResponse.encode(message).finish());
  const idBytes = utf8Length(message.id);
  const total = stringField(idBytes) + 1 + varintSize(size) + size;
  const buf = Buffer.allocUnsafe(total);
  let at = writeString(buf, 0, 10, message.id, idBytes);
  buf[at++] = 18;
  at = writeVarint(buf, at, size);
  const end = writeResponse(buf, at, response!);
  return end === total ? buf : view(PredictStreamResponse.encode(message).finish());
}

/** A Buffer over `bytes`, not a copy (`finish()` returns bytes of their own). */
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Bytes of a PredictResponse, or -1 when an output is not one that this encoder writes (see rawTensorSize). */
function responseSize(response: PredictResponse): number {
  let size =
    stringField(utf8Length(response.modelName)) +
    stringField(utf8Length(response.modelVersion)) +
    stringField(utf8Length(response.id));
  const outputs = response.outputs;
  for (const key of Object.keys(outputs)) {
    const tensor = rawTensorSize(outputs[key]!);
    if (tensor < 0) return -1;
    const entry = stringField(utf8Length(key)) + 1 + varintSize(tensor) + tensor;
    size += 1 + varintSize(entry) + entry;
  }
  return size;
}

function writeResponse(buf: Buffer, at: number, response: PredictResponse): number {
  at = writeString(buf, at, 10, response.modelName, utf8Length(response.modelName));
  at = writeString(buf, at, 18, response.modelVersion, utf8Length(response.modelVersion));
  const outputs = response.outputs;
  for (const key of Object.keys(outputs)) {
    const tensor = outputs[key]!;
    const tensorSize = rawTensorSize(tensor);
    const keyBytes = utf8Length(key);
    buf[at++] = 26;
    at = writeVarint(buf, at, stringField(keyBytes) + 1 + varintSize(tensorSize) + tensorSize);
    at = writeString(buf, at, 10, key, keyBytes);
    buf[at++] = 18;
    at = writeVarint(buf, at, tensorSize);
    at = writeRawTensor(buf, at, tensor);
  }
  return writeString(buf, at, 34, response.id, utf8Length(response.id));
}

/**
 * Bytes of a Tensor whose only content is raw_data (every typed field empty), its datatype not
 * negative and its dims in [0, 2^53); -1 for any other, which the generated encoder writes.
 */
function rawTensorSize(t: Tensor): number {
  if (
    t.floatData.length !== 0 ||
    t.doubleData.length !== 0 ||
    t.int32Data.length !== 0 ||
    t.int64Data.length !== 0 ||
    t.uint64Data.length !== 0 ||
    t.boolData.length !== 0 ||
    t.stringData.length !== 0 ||
    t.datatype < 0
  ) {
    return -1;
  }
  const shape = shapeBytes(t.shape);
  if (shape < 0) return -1;
  const raw = t.rawData.length;
  return (
    (t.datatype === 0 ? 0 : 1 + varintSize(t.datatype)) +
    (t.shape.length === 0 ? 0 : 1 + varintSize(shape) + shape) +
    (raw === 0 ? 0 : 1 + varintSize(raw) + raw)
  );
}

/** Bytes of the packed dims, or -1 when one is negative or past 2^53. */
function shapeBytes(shape: readonly bigint[]): number {
  let n = 0;
  for (const d of shape) {
    if (d < 0n || d > 9007199254740991n) return -1;
    n += varintSize(Number(d));
  }
  return n;
}

function writeRawTensor(buf: Buffer, at: number, t: Tensor): number {
  if (t.datatype !== 0) {
    buf[at++] = 8;
    at = writeVarint(buf, at, t.datatype);
  }
  if (t.shape.length !== 0) {
    buf[at++] = 18;
    at = writeVarint(buf, at, shapeBytes(t.shape));
    for (const d of t.shape) at = writeVarint(buf, at, Number(d));
  }
  const raw = t.rawData;
  if (raw.length !== 0) {
    buf[at++] = 26;
    at = writeVarint(buf, at, raw.length);
    buf.set(raw, at);
    at += raw.length;
  }
  return at;
}

/** Bytes of a string field of `bytes` bytes (none when it is empty, as proto3 leaves it out). */
function stringField(bytes: number): number {
  return bytes === 0 ? 0 : 1 + varintSize(bytes) + bytes;
}

function writeString(buf: Buffer, at: number, tag: number, text: string, bytes: number): number {
  if (bytes === 0) return at;
  buf[at++] = tag;
  at = writeVarint(buf, at, bytes);
  if (bytes !== text.length) return at + buf.write(text, at, bytes, 'utf8');
  // ASCII (names and ids mostly are): stored by hand, cheaper than a call into Buffer's native code for a few bytes.
  for (let i = 0; i < bytes; i++) buf[at + i] = text.charCodeAt(i);
  return at + bytes;
}

/** Bytes of `text` in UTF-8. */
function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 128) return Buffer.byteLength(text);
  return text.length;
}
