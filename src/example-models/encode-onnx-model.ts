import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/** ONNX TensorProto.DataType names this encoder knows (values from onnx.proto). */
export type OnnxElemType =
  | 'FLOAT'
  | 'UINT8'
  | 'INT8'
  | 'UINT16'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'STRING'
  | 'BOOL'
  | 'FLOAT16'
  | 'DOUBLE'
  | 'UINT32'
  | 'UINT64';

/** A dimension: a number is a fixed `dim_value`, a string a symbolic `dim_param`. */
export type OnnxDim = number | string;

/** A graph input or output. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: OnnxElemType;
  readonly dims: readonly OnnxDim[];
}

/** Numeric data of a constant tensor; its element type follows from the array class. */
export type OnnxTensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A constant tensor (initializer or tensor attribute), encoded as little-endian `raw_data`. */
export interface OnnxTensor {
  readonly name?: string;
  readonly dims: readonly number[];
  readonly data: OnnxTensorData;
  /** Overrides the type implied by `data`, e.g. 'BOOL' or 'FLOAT16' over a Uint8Array/Uint16Array. */
  readonly elemType?: OnnxElemType;
}

/** One attribute value; the key says which AttributeProto field carries it. */
export type OnnxAttribute =
  | { readonly float: number }
  | { readonly int: number | bigint }
  | { readonly string: string }
  | { readonly tensor: OnnxTensor }
  | { readonly floats: readonly number[] }
  | { readonly ints: readonly (number | bigint)[] };

export interface OnnxNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  /** Operator domain; '' (the default ONNX domain) when absent. */
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, OnnxAttribute>>;
}

/** A whole single-graph model. */
export interface OnnxModelSpec {
  readonly graphName: string;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly nodes: readonly OnnxNode[];
  readonly initializers?: readonly (OnnxTensor & { readonly name: string })[];
  /** Default 8. */
  readonly irVersion?: number;
  /** Version of the default ('') opset; default 17. */
  readonly opsetVersion?: number;
  /** Default 'inferd'. */
  readonly producerName?: string;
}

const ELEM_TYPE_CODE: Readonly<Record<OnnxElemType, number>> = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
};

const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function impliedElemType(data: OnnxTensorData): OnnxElemType {
  if (data instanceof Float32Array) return 'FLOAT';
  if (data instanceof Float64Array) return 'DOUBLE';
  if (data instanceof Int8Array) return 'INT8';
  if (data instanceof Uint8Array) return 'UINT8';
  if (data instanceof Int16Array) return 'INT16';
  if (data instanceof Uint16Array) return 'UINT16';
  if (data instanceof Int32Array) return 'INT32';
  if (data instanceof Uint32Array) return 'UINT32';
  if (data instanceof BigInt64Array) return 'INT64';
  return 'UINT64';
}

function littleEndianBytes(data: OnnxTensorData): Uint8Array {
  const bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  if (!HOST_IS_LITTLE_ENDIAN) {
    for (let at = 0; at < bytes.length; at += data.BYTES_PER_ELEMENT) {
      bytes.subarray(at, at + data.BYTES_PER_ELEMENT).reverse();
    }
  }
  return bytes;
}

/** Runs `body` on a forked writer and writes the result as length-delimited field `fieldNo`. */
function message(w: BinaryWriter, fieldNo: number, body: (w: BinaryWriter) => void): void {
  w.tag(fieldNo, WireType.LengthDelimited).fork();
  body(w);
  w.join();
}

function writeTensor(w: BinaryWriter, t: OnnxTensor): void {
  for (const d of t.dims) w.tag(1, WireType.Varint).int64(d);
  w.tag(2, WireType.Varint).int32(ELEM_TYPE_CODE[t.elemType ?? impliedElemType(t.data)]);
  if (t.name !== undefined) w.tag(8, WireType.LengthDelimited).string(t.name);
  w.tag(9, WireType.LengthDelimited).bytes(littleEndianBytes(t.data));
}

function writeValueInfo(w: BinaryWriter, v: OnnxValueInfo): void {
  w.tag(1, WireType.LengthDelimited).string(v.name);
  message(w, 2, (type) =>
    message(type, 1, (tensorType) => {
      tensorType.tag(1, WireType.Varint).int32(ELEM_TYPE_CODE[v.elemType]);
      message(tensorType, 2, (shape) => {
        for (const d of v.dims) {
          message(shape, 1, (dim) => {
            if (typeof d === 'number') dim.tag(1, WireType.Varint).int64(d);
            else dim.tag(2, WireType.LengthDelimited).string(d);
          });
        }
      });
    }),
  );
}

function writeAttribute(w: BinaryWriter, name: string, a: OnnxAttribute): void {
  w.tag(1, WireType.LengthDelimited).string(name);
  let type: number;
  if ('float' in a) {
    w.tag(2, WireType.Bit32).float(a.float);
    type = ATTRIBUTE_TYPE.FLOAT;
  } else if ('int' in a) {
    w.tag(3, WireType.Varint).int64(a.int);
    type = ATTRIBUTE_TYPE.INT;
  } else if ('string' in a) {
    w.tag(4, WireType.LengthDelimited).string(a.string);
    type = ATTRIBUTE_TYPE.STRING;
  } else if ('tensor' in a) {
    message(w, 5, (t) => writeTensor(t, a.tensor));
    type = ATTRIBUTE_TYPE.TENSOR;
  } else if ('floats' in a) {
    for (const f of a.floats) w.tag(7, WireType.Bit32).float(f);
    type = ATTRIBUTE_TYPE.FLOATS;
  } else {
    for (const i of a.ints) w.tag(8, WireType.Varint).int64(i);
    type = ATTRIBUTE_TYPE.INTS;
  }
  w.tag(20, WireType.Varint).int32(type);
}

function writeNode(w: BinaryWriter, n: OnnxNode): void {
  for (const i of n.inputs) w.tag(1, WireType.LengthDelimited).string(i);
  for (const o of n.outputs) w.tag(2, WireType.LengthDelimited).string(o);
  if (n.name !== undefined) w.tag(3, WireType.LengthDelimited).string(n.name);
  w.tag(4, WireType.LengthDelimited).string(n.opType);
  for (const [name, a] of Object.entries(n.attributes ?? {})) message(w, 5, (attr) => writeAttribute(attr, name, a));
  if (n.domain !== undefined) w.tag(7, WireType.LengthDelimited).string(n.domain);
}

/**
 * Serializes `spec` as an ONNX ModelProto (one graph, one default-domain opset import).
 * Pure: no validation beyond what the types enforce; ONNX Runtime reports a malformed graph
 * when it loads the bytes. The caller owns the returned buffer.
 */
export function encodeOnnxModel(spec: OnnxModelSpec): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int64(spec.irVersion ?? 8);
  w.tag(2, WireType.LengthDelimited).string(spec.producerName ?? 'inferd');
  message(w, 7, (g) => {
    for (const n of spec.nodes) message(g, 1, (node) => writeNode(node, n));
    g.tag(2, WireType.LengthDelimited).string(spec.graphName);
    for (const t of spec.initializers ?? []) message(g, 5, (tensor) => writeTensor(tensor, t));
    for (const v of spec.inputs) message(g, 11, (info) => writeValueInfo(info, v));
    for (const v of spec.outputs) message(g, 12, (info) => writeValueInfo(info, v));
  });
  message(w, 8, (opset) => {
    opset.tag(1, WireType.LengthDelimited).string('');
    opset.tag(2, WireType.Varint).int64(spec.opsetVersion ?? 17);
  });
  return w.finish();
}
