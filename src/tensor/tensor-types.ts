/**
 * Tensors as inferd holds them between the wire and the runtime: host tensors, what a model
 * declares for each, inferd.v1's wire tensor as plain data, and the checks every codec shares
 * (shapes, raw bytes, string elements).
 */
import { InferdError } from '../inferd-error';
import type { ElementType, ElementTypeInfo, NumericArray, TensorData } from './element-types';

/**
 * A tensor as the runtime takes it: element type, dimensions, elements. Data that covers the
 * whole of its buffer is owned by whoever holds the tensor and may be transferred to a worker
 * thread, after which it is detached here. Data over part of a buffer may be a view over bytes
 * the tensor does not own (a request's message, see rawElements): it is only read, never written
 * to nor transferred.
 */
export interface HostTensor {
  readonly type: ElementType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/**
 * The wire Tensor of inferd.v1, as plain data: the shape of the generated message, so the core
 * converts it without depending on generated code. Field meanings are in proto/inferd/v1/tensor.proto.
 */
export interface WireTensor {
  datatype: number;
  shape: bigint[];
  rawData: Uint8Array;
  floatData: number[];
  doubleData: number[];
  int32Data: number[];
  int64Data: bigint[];
  uint64Data: bigint[];
  boolData: boolean[];
  stringData: Uint8Array[];
}

/** What a model declares for one input or output. A dimension of -1 takes any size. */
export interface TensorSpec {
  readonly name: string;
  readonly type: ElementType;
  readonly dims: readonly number[];
}

/** Dimensions a message shows before it elides the rest (a shape of any rank may come in a request). */
const SHOWN_DIMS = 8;

/** A shape as messages show it: `[-1,16]`; past 8 dimensions, `[1,1,1,1,1,1,1,1,...] (rank 1000)`. */
export function formatShape(dims: readonly (number | bigint)[]): string {
  if (dims.length <= SHOWN_DIMS) return `[${dims.join(',')}]`;
  return `[${dims.slice(0, SHOWN_DIMS).join(',')},...] (rank ${dims.length})`;
}

/**
 * The largest size of one dimension: onnxruntime-node refuses a larger one (`Tensor.dims[i] is
 * invalid`). Checked on each dimension, because the element count alone hides a dimension of any
 * size next to a 0.
 */
export const MAX_DIMENSION = 2 ** 32 - 1;

/**
 * The dimensions of a shape (a wire one in bigints, or a host one), checked against the shape a model declares (where -1 takes
 * any size). `what` names the tensor in messages, e.g. `input "x"`. Throws INVALID_ARGUMENT
 * naming the dimension for one outside [0, MAX_DIMENSION], and for a shape the declared one
 * cannot take.
 */
export function checkShape(what: string, shape: readonly (bigint | number)[], declared: readonly number[]): number[] {
  // The rank first: a request may send a shape of any length, and none but the declared one fits.
  if (shape.length !== declared.length) throw mismatch(what, declared, shape);
  const dims: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d < 0 || d > MAX_DIMENSION || (typeof d === 'number' && !Number.isInteger(d))) {
      throw new InferdError(
        'INVALID_ARGUMENT',
        `${what}: dimension ${i} of shape ${formatShape(shape)} is ${d}, expected 0 to ${MAX_DIMENSION}`,
      );
    }
    dims.push(Number(d));
  }
  if (!declared.every((d, i) => d < 0 || d === dims[i])) throw mismatch(what, declared, dims);
  return dims;
}

function mismatch(what: string, declared: readonly number[], got: readonly (number | bigint)[]): InferdError {
  return new InferdError(
    'INVALID_ARGUMENT',
    `${what}: expected shape ${formatShape(declared)}, got ${formatShape(got)}`,
  );
}

/**
 * `count` elements of a numeric type read from little-endian packed bytes, copied into a new
 * buffer of their own (aligned for the typed array, and transferable to a worker). BOOL bytes
 * other than 0 read as 1. The caller has checked that `raw` holds exactly count × info.bytes
 * bytes; `raw` itself is not kept.
 */
export function copyRaw(raw: Uint8Array, info: ElementTypeInfo, count: number): NumericArray {
  const bytes = count * info.bytes;
  // Uninitialised memory must never reach a model or an answer: every byte is written from `raw`.
  if (raw.length !== bytes) throw new Error(`copyRaw: ${raw.length} bytes for ${count} ${info.label} elements`);
  // Not zero-filled first, since `raw` writes every byte (a third less CPU for a 110 KiB input).
  const data = count === 0 ? info.allocate(0) : info.over(Buffer.allocUnsafeSlow(bytes).buffer, 0, count);
  new Uint8Array(data.buffer).set(raw);
  if (info.type === 'bool') for (let i = 0; i < count; i++) if (data[i] !== 0) data[i] = 1;
  return data;
}

/**
 * `count` elements of a numeric type read from little-endian packed bytes (in the machine's own
 * order, as copyRaw does: little-endian on every machine Node and ONNX Runtime ship for): a view
 * over `raw`'s own bytes where they can be read in place, a copy of them (see copyRaw)
 * elsewhere. In place takes bytes that begin at a multiple of the element size in their
 * buffer (as a typed array must), a type other than BOOL (whose bytes other than 0 must read as
 * 1, and `raw` is not ours to change), and bytes that are part, not all, of an ArrayBuffer: data
 * that covers all of its buffer counts as owning it and may be transferred to a worker (see
 * HostTensor), which would take the bytes away from whoever holds `raw` (a stored job's input).
 * A request's raw bytes always follow their field's tag in the message, so they are never all of
 * it.
 *
 * A view shares `raw`'s buffer: it is never written to nor transferred, and keeps that buffer (a
 * request's message) alive as long as the tensor is. The caller has checked that `raw` holds
 * exactly count × info.bytes bytes.
 */
export function rawElements(raw: Uint8Array, info: ElementTypeInfo, count: number): NumericArray {
  const buffer = raw.buffer;
  if (
    info.type !== 'bool' &&
    raw.byteOffset % info.bytes === 0 &&
    raw.byteLength < buffer.byteLength &&
    buffer instanceof ArrayBuffer
  )
    return info.over(buffer, raw.byteOffset, count);
  return copyRaw(raw, info, count);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One string element as ONNX Runtime takes it. onnxruntime-node cuts a string at its first NUL
 * byte, and string tensors hold text: both are refused (INVALID_ARGUMENT naming the element)
 * rather than handing the model something other than what was sent. `label` names the type as
 * the client's protocol does (STRING, BYTES).
 */
export function stringElement(what: string, bytes: Uint8Array, index: number, label: string): string {
  if (bytes.includes(0))
    throw new InferdError(
      'INVALID_ARGUMENT',
      `${what}: element ${index} contains a NUL byte, which ONNX Runtime cannot carry in a ${label} tensor`,
    );
  try {
    return utf8.decode(bytes);
  } catch {
    throw new InferdError(
      'INVALID_ARGUMENT',
      `${what}: element ${index} is not valid UTF-8, which ONNX Runtime needs in a ${label} tensor`,
    );
  }
}
