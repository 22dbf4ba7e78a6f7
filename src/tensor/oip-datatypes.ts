import type { ElementType } from './element-types';
import type { OipContentsField } from './oip-tensor-types';

/** One datatype of the Open Inference Protocol and how it maps onto inferd's element types. */
export interface OipDatatype {
  /** The protocol's name: BOOL, UINT8 ... UINT64, INT8 ... INT64, FP16, FP32, FP64, BYTES. */
  readonly name: string;
  readonly type: ElementType;
  /** The field of InferTensorContents that carries its values; undefined for FP16 (raw only). */
  readonly contentsField: OipContentsField | undefined;
  /** Its name in a Triton model configuration (model_config.proto's DataType). */
  readonly configName: string;
}

const rows: OipDatatype[] = [
  { name: 'BOOL', type: 'bool', contentsField: 'boolContents', configName: 'TYPE_BOOL' },
  { name: 'UINT8', type: 'uint8', contentsField: 'uintContents', configName: 'TYPE_UINT8' },
  { name: 'UINT16', type: 'uint16', contentsField: 'uintContents', configName: 'TYPE_UINT16' },
  { name: 'UINT32', type: 'uint32', contentsField: 'uintContents', configName: 'TYPE_UINT32' },
  { name: 'UINT64', type: 'uint64', contentsField: 'uint64Contents', configName: 'TYPE_UINT64' },
  { name: 'INT8', type: 'int8', contentsField: 'intContents', configName: 'TYPE_INT8' },
  { name: 'INT16', type: 'int16', contentsField: 'intContents', configName: 'TYPE_INT16' },
  { name: 'INT32', type: 'int32', contentsField: 'intContents', configName: 'TYPE_INT32' },
  { name: 'INT64', type: 'int64', contentsField: 'int64Contents', configName: 'TYPE_INT64' },
  { name: 'FP16', type: 'float16', contentsField: undefined, configName: 'TYPE_FP16' },
  { name: 'FP32', type: 'float32', contentsField: 'fp32Contents', configName: 'TYPE_FP32' },
  { name: 'FP64', type: 'float64', contentsField: 'fp64Contents', configName: 'TYPE_FP64' },
  { name: 'BYTES', type: 'string', contentsField: 'bytesContents', configName: 'TYPE_STRING' },
];

/**
 * Datatypes the protocol defines that no inferd model can declare (ONNX Runtime for Node has
 * no bfloat16 tensors): a request naming one gets "expected X, got BF16", not "unknown".
 */
const UNSERVED = new Set(['BF16']);

const byType = new Map(rows.map((r) => [r.type, r]));
const byName = new Map(rows.map((r) => [r.name, r]));

/** The protocol datatype of an element type. */
export function oipDatatype(type: ElementType): OipDatatype {
  const row = byType.get(type);
  if (row === undefined) throw new Error(`no protocol datatype for ${type}`);
  return row;
}

/**
 * The row for a datatype string (exact, upper case), `'unserved'` for one the protocol defines
 * but inferd cannot serve, undefined for a string the protocol does not define.
 */
export function oipDatatypeNamed(name: string): OipDatatype | 'unserved' | undefined {
  return byName.get(name) ?? (UNSERVED.has(name) ? 'unserved' : undefined);
}

/** Every field of InferTensorContents, in field-number order. */
export const OIP_CONTENTS_FIELDS: readonly OipContentsField[] = [
  'boolContents',
  'intContents',
  'int64Contents',
  'uintContents',
  'uint64Contents',
  'fp32Contents',
  'fp64Contents',
  'bytesContents',
];

/** Wire names of the contents fields, for messages. */
export const OIP_FIELD_NAMES: Readonly<Record<OipContentsField, string>> = {
  boolContents: 'bool_contents',
  intContents: 'int_contents',
  int64Contents: 'int64_contents',
  uintContents: 'uint_contents',
  uint64Contents: 'uint64_contents',
  fp32Contents: 'fp32_contents',
  fp64Contents: 'fp64_contents',
  bytesContents: 'bytes_contents',
};
