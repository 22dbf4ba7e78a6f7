import type { WireInput } from './to-wire-input';
import { varintSize, writeVarint } from '../tensor/varint';

/** What an inferd.v1.PredictRequest carries. */
export interface PredictRequestParts {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly inputs: readonly WireInput[];
  readonly outputNames: readonly string[];
  readonly id: string;
}

/** Writes a string field (tag, length, UTF-8 bytes) whose UTF-8 form is `bytes` long; returns the position after it. */
function writeString(out: Buffer, pos: number, tag: number, s: string, bytes: number): number {
  out[pos++] = tag;
  pos = writeVarint(out, pos, bytes);
  return pos + out.write(s, pos, bytes, 'utf8');
}

/** Bytes of a length-delimited field (tag, length, body) whose body is `length` bytes. */
const delimited = (length: number): number => 1 + varintSize(length) + length;

/**
 * An inferd.v1.PredictRequest in protobuf wire form, written in one pass into one buffer: each
 * input's bytes are copied once, into the message, and nothing else is (strings are written in
 * place). Field numbers are those of proto/inferd/v1/prediction_service.proto and tensor.proto.
 */
export function encodePredictRequest(request: PredictRequestParts): Buffer {
  const nameBytes = Buffer.byteLength(request.modelName);
  const versionBytes = Buffer.byteLength(request.modelVersion);
  const idBytes = Buffer.byteLength(request.id);
  let total =
    (nameBytes > 0 ? delimited(nameBytes) : 0) +
    (versionBytes > 0 ? delimited(versionBytes) : 0) +
    (idBytes > 0 ? delimited(idBytes) : 0);
  for (const name of request.outputNames) total += delimited(Buffer.byteLength(name));
  // Sizes of each entry's key, tensor and shape, kept for the writing pass.
  const sizes: number[] = [];
  for (const input of request.inputs) {
    const keyBytes = Buffer.byteLength(input.name);
    let shapeBytes = 0;
    for (const d of input.shape) shapeBytes += varintSize(d);
    let tensorBytes =
      (input.datatype !== 0 ? 1 + varintSize(input.datatype) : 0) + (shapeBytes > 0 ? delimited(shapeBytes) : 0);
    if (input.raw !== undefined && input.raw.byteLength > 0) tensorBytes += delimited(input.raw.byteLength);
    if (input.strings !== undefined) for (const s of input.strings) tensorBytes += delimited(Buffer.byteLength(s));
    const entryBytes = delimited(keyBytes) + delimited(tensorBytes);
    sizes.push(keyBytes, shapeBytes, tensorBytes, entryBytes);
    total += delimited(entryBytes);
  }

  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  if (nameBytes > 0) pos = writeString(out, pos, 0x0a, request.modelName, nameBytes); // 1: model_name
  if (versionBytes > 0) pos = writeString(out, pos, 0x12, request.modelVersion, versionBytes); // 2: model_version
  for (let i = 0; i < request.inputs.length; i++) {
    const input = request.inputs[i]!;
    out[pos++] = 0x1a; // 3: inputs, a map entry
    pos = writeVarint(out, pos, sizes[i * 4 + 3]!);
    pos = writeString(out, pos, 0x0a, input.name, sizes[i * 4]!); // entry key
    out[pos++] = 0x12; // entry value: Tensor
    pos = writeVarint(out, pos, sizes[i * 4 + 2]!);
    if (input.datatype !== 0) {
      out[pos++] = 0x08; // Tensor 1: datatype
      pos = writeVarint(out, pos, input.datatype);
    }
    const shapeBytes = sizes[i * 4 + 1]!;
    if (shapeBytes > 0) {
      out[pos++] = 0x12; // Tensor 2: shape, packed
      pos = writeVarint(out, pos, shapeBytes);
      for (const d of input.shape) pos = writeVarint(out, pos, d);
    }
    if (input.raw !== undefined && input.raw.byteLength > 0) {
      out[pos++] = 0x1a; // Tensor 3: raw_data
      pos = writeVarint(out, pos, input.raw.byteLength);
      out.set(input.raw, pos);
      pos += input.raw.byteLength;
    }
    if (input.strings !== undefined)
      for (const s of input.strings) pos = writeString(out, pos, 0x52, s, Buffer.byteLength(s)); // Tensor 10: string_data
  }
  for (const name of request.outputNames) pos = writeString(out, pos, 0x22, name, Buffer.byteLength(name)); // 4: output_names
  if (idBytes > 0) pos = writeString(out, pos, 0x2a, request.id, idBytes); // 5: id
  return out;
}
