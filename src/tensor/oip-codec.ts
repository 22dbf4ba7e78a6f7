/**
 * The tensor codec of the Open Inference Protocol's gRPC binding (package `inference`): its
 * datatypes, its tensors as plain data (the shapes of the generated messages, so that this code
 * does not depend on generated code; field meanings are in proto/inference/grpc_service.proto),
 * and their conversion to and from host tensors.
 */
import { clipText } from '../clip-text';
import { InferdError } from '../inferd-error';
import { elementType, type ElementType, type ElementTypeInfo, type NumericArray } from './element-types';
import { checkShape, formatShape, rawElements, stringElement, type HostTensor, type TensorSpec } from './tensor-types';

/** Bytes of the length that precedes each BYTES element in raw form. */
const LENGTH_PREFIX_BYTES = 4;

/** Typed elements of a tensor (InferTensorContents). */
export interface OipTensorContents {
  boolContents: boolean[];
  intContents: number[];
  int64Contents: bigint[];
  uintContents: number[];
  uint64Contents: bigint[];
  fp32Contents: number[];
  fp64Contents: number[];
  bytesContents: Uint8Array[];
}

/** The typed fields of InferTensorContents. */
export type OipContentsField = keyof OipTensorContents;

/** An input tensor of a request (ModelInferRequest.InferInputTensor), without its parameters. */
export interface OipInputTensor {
  name: string;
  /** A datatype string: FP32, BYTES... */
  datatype: string;
  shape: bigint[];
  contents: OipTensorContents | undefined;
}

/** One input as the decoder takes it: the tensor and, when the request sent raw contents, its entry of raw_input_contents. */
export interface OipInput {
  readonly tensor: OipInputTensor;
  readonly raw: Uint8Array | undefined;
}

/** One output as it goes on the wire: its metadata, and its entry of raw_output_contents. */
export interface OipOutput {
  readonly datatype: string;
  readonly shape: bigint[];
  /** The elements in raw form; numeric ones are a view over the tensor's own buffer, not a copy. */
  readonly raw: Uint8Array;
}

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

/** True when a contents message holds at least one element (an empty message carries nothing). */
function hasContents(contents: OipTensorContents | undefined): boolean {
  return contents !== undefined && OIP_CONTENTS_FIELDS.some((f) => contents[f].length > 0);
}

/**
 * Throws INVALID_ARGUMENT when the request sent raw_input_contents and an input also carries
 * typed contents, in Triton's words, which clients written for Triton look for. Triton checks
 * this before anything else of the tensor; so does inferd.
 */
export function refuseContentsBesideRaw(
  inputs: readonly OipInputTensor[],
  raw: readonly Uint8Array[],
  modelName: string,
): void {
  if (raw.length === 0) return;
  const mixed = inputs.find((tensor) => hasContents(tensor.contents));
  if (mixed !== undefined) {
    throw new InferdError(
      'INVALID_ARGUMENT',
      `contents field must not be specified when using raw_input_contents for '${clipText(mixed.name)}' for model '${clipText(modelName)}'`,
    );
  }
}

/**
 * A request's inputs by name, each with its entry of `raw` (raw_input_contents) when the
 * request sent raw contents: entry i belongs to input i. Throws INVALID_ARGUMENT when an input
 * carries typed contents in a request that sent raw ones (see refuseContentsBesideRaw; `modelName`
 * is for its message), when `raw` is not empty and does not hold one entry per input, and when
 * an input is named twice.
 */
export function oipInputs(
  inputs: readonly OipInputTensor[],
  raw: readonly Uint8Array[],
  modelName: string,
): Record<string, OipInput> {
  refuseContentsBesideRaw(inputs, raw, modelName);
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw new InferdError(
      'INVALID_ARGUMENT',
      `raw_input_contents has ${raw.length} entries for ${inputs.length} inputs: send one per input, in the order of inputs`,
    );
  }
  const seen = new Set<string>();
  const entries: [string, OipInput][] = [];
  inputs.forEach((tensor, i) => {
    if (seen.has(tensor.name))
      throw new InferdError('INVALID_ARGUMENT', `input "${tensor.name}" appears more than once`);
    seen.add(tensor.name);
    entries.push([tensor.name, { tensor, raw: raw.length > 0 ? raw[i]! : undefined }]);
  });
  // fromEntries makes every name an own property, "__proto__" included.
  return Object.fromEntries(entries);
}

/**
 * Checks an Open Inference Protocol input against what the model declares for it and converts
 * it to a HostTensor. Its elements come from `input.raw` when the request sent
 * raw_input_contents (see oipInputs), read in place as a view over those bytes where rawElements
 * can, from the tensor's typed contents otherwise; all but views are in a new buffer of the
 * tensor's own.
 *
 * `what` names the tensor in messages, e.g. `input "x"`. Throws INVALID_ARGUMENT naming the
 * tensor and what was expected against what came: a missing, unknown or other datatype than the
 * declared one, a shape the model cannot take, a contents field that does not belong to the
 * datatype or more than one, an element count or byte length that does not match the shape, a
 * value out of range, a BYTES element that ONNX Runtime cannot carry (a NUL byte, or not UTF-8).
 */
export function decodeOipTensor(what: string, input: OipInput, spec: TensorSpec): HostTensor {
  const declared = oipDatatype(spec.type);
  const { tensor, raw } = input;
  checkDatatype(what, tensor.datatype, declared);
  const dims = checkShape(what, tensor.shape, spec.dims);
  const count = dims.reduce((a, b) => a * b, 1);
  const info = elementType(spec.type);

  if (raw !== undefined) {
    const data =
      info.type === 'string'
        ? bytesFromRaw(what, raw, dims, count)
        : numericFromRaw(what, raw, info, declared, dims, count);
    return { type: info.type, dims, data };
  }
  const field = contentsField(what, input, declared);
  if (field === undefined) {
    if (count !== 0)
      throw invalid(`${what}: shape ${formatShape(dims)} needs ${count} ${declared.name} elements, got none`);
    return { type: info.type, dims, data: info.type === 'string' ? [] : info.allocate(0) };
  }
  const values = tensor.contents![field];
  if (values.length !== count) {
    throw invalid(
      `${what}: shape ${formatShape(dims)} needs ${count} elements, ${OIP_FIELD_NAMES[field]} has ${values.length}`,
    );
  }
  return { type: info.type, dims, data: fromContents(what, input, field, info, declared, count) };
}

function invalid(message: string): InferdError {
  return new InferdError('INVALID_ARGUMENT', message);
}

function checkDatatype(what: string, sent: string, declared: OipDatatype): void {
  if (sent === declared.name) return;
  if (sent === '') throw invalid(`${what}: datatype is missing; the model takes ${declared.name}`);
  const known = oipDatatypeNamed(sent);
  if (known === undefined) throw invalid(`${what}: unknown datatype "${sent}"; the model takes ${declared.name}`);
  throw invalid(`${what}: expected datatype ${declared.name}, got ${sent}`);
}

/** The one contents field that holds elements, or undefined when none does. */
function contentsField(what: string, input: OipInput, declared: OipDatatype): OipContentsField | undefined {
  const contents = input.tensor.contents;
  if (contents === undefined) return undefined;
  const set = OIP_CONTENTS_FIELDS.filter((f) => contents[f].length > 0);
  if (set.length > 1)
    throw invalid(
      `${what}: more than one contents field set (${set.map((f) => OIP_FIELD_NAMES[f]).join(', ')}); use one`,
    );
  const field = set[0];
  if (field === undefined) return undefined;
  if (declared.contentsField === undefined) {
    throw invalid(
      `${what}: ${declared.name} values can only be sent in raw_input_contents, got ${OIP_FIELD_NAMES[field]}`,
    );
  }
  if (field !== declared.contentsField) {
    throw invalid(
      `${what}: ${declared.name} values go in ${OIP_FIELD_NAMES[declared.contentsField]}, got ${OIP_FIELD_NAMES[field]}`,
    );
  }
  return field;
}

function numericFromRaw(
  what: string,
  raw: Uint8Array,
  info: ElementTypeInfo,
  declared: OipDatatype,
  dims: number[],
  count: number,
): NumericArray {
  const bytes = count * info.bytes;
  if (raw.length !== bytes) {
    throw invalid(
      `${what}: shape ${formatShape(dims)} of ${declared.name} needs ${bytes} bytes in raw_input_contents, got ${raw.length}`,
    );
  }
  return rawElements(raw, info, count);
}

/** BYTES in raw form: each element a 4-byte little-endian length, then that many bytes. */
function bytesFromRaw(what: string, raw: Uint8Array, dims: number[], count: number): string[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const elements: string[] = [];
  let at = 0;
  while (at < raw.length) {
    const index = elements.length;
    if (index === count) {
      throw invalid(
        `${what}: shape ${formatShape(dims)} needs ${count} BYTES elements, raw_input_contents holds more (${raw.length - at} bytes left after element ${count - 1})`,
      );
    }
    if (raw.length - at < LENGTH_PREFIX_BYTES) {
      throw invalid(
        `${what}: raw_input_contents ends inside the 4-byte length of element ${index} (${raw.length - at} bytes left)`,
      );
    }
    const length = view.getUint32(at, true);
    at += LENGTH_PREFIX_BYTES;
    if (length > raw.length - at) {
      throw invalid(
        `${what}: element ${index} has length ${length}, but raw_input_contents has ${raw.length - at} bytes left`,
      );
    }
    elements.push(stringElement(what, raw.subarray(at, at + length), index, 'BYTES'));
    at += length;
  }
  if (elements.length !== count) {
    throw invalid(
      `${what}: shape ${formatShape(dims)} needs ${count} BYTES elements, raw_input_contents holds ${elements.length}`,
    );
  }
  return elements;
}

function fromContents(
  what: string,
  input: OipInput,
  field: OipContentsField,
  info: ElementTypeInfo,
  declared: OipDatatype,
  count: number,
): NumericArray | string[] {
  const contents = input.tensor.contents!;
  switch (field) {
    case 'bytesContents':
      return contents.bytesContents.map((b, i) => stringElement(what, b, i, 'BYTES'));
    case 'boolContents':
      return Uint8Array.from(contents.boolContents, (b) => (b ? 1 : 0));
    case 'int64Contents':
      return BigInt64Array.from(contents.int64Contents);
    case 'uint64Contents':
      return BigUint64Array.from(contents.uint64Contents);
    default: {
      const values = contents[field];
      const data = info.allocate(count) as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
      for (let i = 0; i < count; i++) {
        const value = values[i]!;
        if (info.range !== undefined && (value < info.range[0] || value > info.range[1])) {
          throw invalid(
            `${what}: element ${i} is ${value}, out of range for ${declared.name} [${info.range[0]}, ${info.range[1]}]`,
          );
        }
        data[i] = value;
      }
      return data;
    }
  }
}

/**
 * Converts a runtime output to the protocol's raw form, the only form inferd answers in:
 * numeric elements little-endian and packed (a view over the tensor's own buffer, not a copy),
 * BYTES elements each as a 4-byte little-endian length followed by its UTF-8 bytes.
 */
export function encodeOipTensor(tensor: HostTensor): OipOutput {
  const datatype = oipDatatype(tensor.type).name;
  const shape = tensor.dims.map(BigInt);
  const data = tensor.data;
  if (!Array.isArray(data))
    return { datatype, shape, raw: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  const elements = data.map((s) => Buffer.from(s, 'utf8'));
  const raw = Buffer.alloc(elements.reduce((n, e) => n + LENGTH_PREFIX_BYTES + e.length, 0));
  let at = 0;
  for (const e of elements) {
    at = raw.writeUInt32LE(e.length, at);
    raw.set(e, at);
    at += e.length;
  }
  return { datatype, shape, raw };
}
