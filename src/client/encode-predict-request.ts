import type { WireInput } from './to-wire-input';

/** What an inferd.v1.PredictRequest carries. */
export interface PredictRequestParts {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly inputs: readonly WireInput[];
  readonly outputNames: readonly string[];
  readonly id: string;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
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
  let total = (nameBytes > 0 ? delimited(nameBytes) : 0) + (versionBytes > 0 ? delimited(versionBytes) : 0) + (idBytes > 0 ? delimited(idBytes) : 0);
  for (const name of request.outputNames) total += delimited(Buffer.byteLength(name));
  // Sizes of each entry's key, tensor and shape, kept for the writing pass.
  const sizes: number[] = [];
  for (const input of request.inputs) {
    const keyBytes = Buffer.byteLength(input.name);
    let shapeBytes = 0;
    for (const d of input.shape) shapeBytes += varintSize(d);
    let tensorBytes = (input.datatype !== 0 ? 1 + varintSize(input.datatype) : 0) + (shapeBytes > 0 ? delimited(shapeBytes) : 0);
    if (input.raw !== undefined && input.raw.byteLength > 0) tensorBytes += delimited(input.raw.byteLength);
    if (input.strings !== undefined) for (const s of input.strings) tensorBytes += delimited(Buffer.byteLength(s));
    const entryBytes = delimited(keyBytes) + delimited(tensorBytes);
    sizes.push(keyBytes, shapeBytes, tensorBytes, entryBytes);
    total += delimited(entryBytes);
  }

  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  const varint = (n: number): void => {
    while (n >= 0x80) {
      out[pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    out[pos++] = n;
  };
  const string = (tag: number, s: string, bytes: number): void => {
    out[pos++] = tag;
    varint(bytes);
    pos += out.write(s, pos, bytes, 'utf8');
  };
  if (nameBytes > 0) string(0x0a, request.modelName, nameBytes); // 1: model_name
  if (versionBytes > 0) string(0x12, request.modelVersion, versionBytes); // 2: model_version
  request.inputs.forEach((input, i) => {
    const keyBytes = sizes[i * 4]!;
    const shapeBytes = sizes[i * 4 + 1]!;
    const tensorBytes = sizes[i * 4 + 2]!;
    const entryBytes = sizes[i * 4 + 3]!;
    out[pos++] = 0x1a; // 3: inputs, a map entry
    varint(entryBytes);
    string(0x0a, input.name, keyBytes); // entry key
    out[pos++] = 0x12; // entry value: Tensor
    varint(tensorBytes);
    if (input.datatype !== 0) {
      out[pos++] = 0x08; // Tensor 1: datatype
      varint(input.datatype);
    }
    if (shapeBytes > 0) {
      out[pos++] = 0x12; // Tensor 2: shape, packed
      varint(shapeBytes);
      for (const d of input.shape) varint(d);
    }
    if (input.raw !== undefined && input.raw.byteLength > 0) {
      out[pos++] = 0x1a; // Tensor 3: raw_data
      varint(input.raw.byteLength);
      out.set(input.raw, pos);
      pos += input.raw.byteLength;
    }
    if (input.strings !== undefined) for (const s of input.strings) string(0x52, s, Buffer.byteLength(s)); // Tensor 10: string_data
  });
  for (const name of request.outputNames) string(0x22, name, Buffer.byteLength(name)); // 4: output_names
  if (idBytes > 0) string(0x2a, request.id, idBytes); // 5: id
  return out;
}
