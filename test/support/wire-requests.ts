/**
 * PredictRequest bytes as PredictRequest.encode makes them, built straight from bytes so that a
 * test can send millions of elements without making millions of values first.
 */

/** Bytes of a varint. */
export function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

/** A length-delimited field. */
export function delimited(field: number, bytes: readonly number[] | Buffer): Buffer {
  return Buffer.concat([Buffer.from([...varint((field << 3) | 2), ...varint(bytes.length)]), Buffer.from(bytes)]);
}

function predictRequest(modelName: string, tensor: Buffer, id: string): Buffer {
  const entry = Buffer.concat([delimited(1, Buffer.from('x')), delimited(2, tensor)]);
  return Buffer.concat([delimited(1, Buffer.from(modelName)), delimited(3, entry), delimited(5, Buffer.from(id))]);
}

/** PredictRequest { model_name, inputs: { x: STRING [n] of n empty strings }, id }: 2 bytes an element. */
export function emptyStringsRequest(modelName: string, n: number, id = ''): Buffer {
  const strings = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) strings[2 * i] = 0x52; // field 10, length 0
  return predictRequest(modelName, Buffer.concat([Buffer.from([0x08, 13]), delimited(2, varint(n)), strings]), id);
}

/** PredictRequest { model_name, inputs: { x: INT32 [n] of n zeros in int32_data }, id }: 1 byte an element. */
export function int32ZerosRequest(modelName: string, n: number, id = ''): Buffer {
  return predictRequest(
    modelName,
    Buffer.concat([Buffer.from([0x08, 6]), delimited(2, varint(n)), delimited(6, Buffer.alloc(n))]),
    id,
  );
}
