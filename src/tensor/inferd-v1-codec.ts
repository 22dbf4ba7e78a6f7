/**
 * The codec of inferd.v1: a PredictRequest to the core's InferRequest, an InferResult to a
 * PredictResponse, and its wire Tensor (see WireTensor) to and from host tensors. Plain data
 * only (the shapes of the generated messages): the gRPC service and the jobs both use it.
 */
import { InferdError } from '../inferd-error';
import type { InferRequest, InferResult, PendingTensor, PredictInput, PredictOutput } from '../inference';
import {
  elementType,
  elementTypeOfWire,
  FIELD_NAMES,
  TYPED_FIELDS,
  type ElementTypeInfo,
  type NumericArray,
  type TypedField,
} from './element-types';
import { fromFloat16Bits, toFloat16Bits } from './float16';
import {
  checkShape,
  formatShape,
  rawElements,
  stringElement,
  type HostTensor,
  type TensorSpec,
  type WireTensor,
} from './tensor-types';

/**
 * A prediction as the core takes it. Each input stays a wire tensor until the core knows what
 * the model declares for it (see decodeTensor); the output names are those asked for.
 */
export function inferRequestOf(request: PredictInput): InferRequest {
  // fromEntries keeps every name an own property, "__proto__" included.
  const inputs = Object.fromEntries(Object.entries(request.inputs).map(([name, wire]) => [name, pendingTensor(wire)]));
  return { modelName: request.modelName, modelVersion: request.modelVersion, inputs, outputNames: request.outputNames };
}

function pendingTensor(wire: WireTensor): PendingTensor {
  return { decode: (what, spec) => decodeTensor(what, wire, spec) };
}

/**
 * The answer to `request` from its result: every output in raw_data when every input of the
 * request came in raw_data, in typed fields otherwise (so that a client that sends numbers reads
 * numbers); raw outputs are views over the result's buffers, not copies.
 */
export function predictOutputOf(result: InferResult, request: PredictInput): PredictOutput {
  const raw = Object.values(request.inputs).every((t) => t.rawData.length > 0);
  const outputs: Record<string, WireTensor> = {};
  for (const { name, tensor } of result.outputs) outputs[name] = encodeTensor(tensor, raw);
  return { modelName: result.modelName, modelVersion: result.modelVersion, outputs, id: request.id };
}

/**
 * Checks a wire tensor against what the model declares for it and converts it to a HostTensor.
 * Elements from raw_data are read in place, as a view over the wire tensor's bytes, where
 * rawElements can; all others are in a new buffer of the tensor's own.
 *
 * `what` names the tensor in messages, e.g. `input "x"`. Throws INVALID_ARGUMENT naming the
 * tensor and what was expected against what came: a datatype other than the declared one, a
 * shape the model cannot take, more than one content field, a field that does not belong to the
 * type, an element count or byte length that does not match the shape, a value out of range.
 */
export function decodeTensor(what: string, wire: WireTensor, spec: TensorSpec): HostTensor {
  const info = elementType(spec.type);
  if (wire.datatype !== 0) {
    const sent = elementTypeOfWire(wire.datatype);
    if (sent === undefined) throw invalid(`${what}: unknown datatype ${wire.datatype}`);
    if (sent.type !== info.type) throw invalid(`${what}: expected datatype ${info.label}, got ${sent.label}`);
  }
  const dims = checkShape(what, wire.shape, spec.dims);
  const count = dims.reduce((a, b) => a * b, 1);

  const field = contentField(what, wire, info);
  if (field === undefined) {
    if (count !== 0)
      throw invalid(`${what}: shape ${formatShape(dims)} needs ${count} ${info.label} elements, got none`);
    return { type: info.type, dims, data: info.type === 'string' ? [] : info.allocate(0) };
  }
  if (field === 'rawData') return { type: info.type, dims, data: fromRaw(what, wire.rawData, info, dims, count) };

  const values = wire[field];
  if (values.length !== count) {
    throw invalid(
      `${what}: shape ${formatShape(dims)} needs ${count} elements, ${FIELD_NAMES[field]} has ${values.length}`,
    );
  }
  return { type: info.type, dims, data: fromTyped(what, wire, field, info, count) };
}

function invalid(message: string): InferdError {
  return new InferdError('INVALID_ARGUMENT', message);
}

/** The one content field set, or undefined when none is. */
function contentField(what: string, wire: WireTensor, info: ElementTypeInfo): TypedField | 'rawData' | undefined {
  const set: (TypedField | 'rawData')[] = wire.rawData.length > 0 ? ['rawData'] : [];
  for (const f of TYPED_FIELDS) if (wire[f].length > 0) set.push(f);
  if (set.length > 1)
    throw invalid(`${what}: more than one content field set (${set.map((f) => FIELD_NAMES[f]).join(', ')}); use one`);
  const field = set[0];
  if (field === undefined) return undefined;
  const allowed = info.type === 'string' ? [info.typedField] : ['rawData', info.typedField];
  if (!allowed.includes(field)) {
    const fields = allowed.map((f) => FIELD_NAMES[f as TypedField]).join(' or ');
    throw invalid(`${what}: ${info.label} values go in ${fields}, got ${FIELD_NAMES[field]}`);
  }
  return field;
}

function fromRaw(what: string, raw: Uint8Array, info: ElementTypeInfo, dims: number[], count: number): NumericArray {
  const bytes = count * info.bytes;
  if (raw.length !== bytes) {
    throw invalid(
      `${what}: shape ${formatShape(dims)} of ${info.label} needs ${bytes} bytes of raw_data, got ${raw.length}`,
    );
  }
  return rawElements(raw, info, count);
}

function fromTyped(
  what: string,
  wire: WireTensor,
  field: TypedField,
  info: ElementTypeInfo,
  count: number,
): NumericArray | string[] {
  switch (field) {
    case 'stringData':
      return wire.stringData.map((b, i) => stringElement(what, b, i, 'STRING'));
    case 'boolData':
      return Uint8Array.from(wire.boolData, (b) => (b ? 1 : 0));
    case 'int64Data':
    case 'uint64Data': {
      const values = wire[field];
      if (info.type === 'uint32') {
        const data = new Uint32Array(count);
        for (let i = 0; i < count; i++) data[i] = Number(checkRange(what, values[i]!, info, i));
        return data;
      }
      return info.type === 'int64' ? BigInt64Array.from(values) : BigUint64Array.from(values);
    }
    default: {
      const values = wire[field];
      if (info.type === 'float16') return Uint16Array.from(values, toFloat16Bits);
      const data = info.allocate(count) as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
      for (let i = 0; i < count; i++) data[i] = info.range ? Number(checkRange(what, values[i]!, info, i)) : values[i]!;
      return data;
    }
  }
}

function checkRange(what: string, value: number | bigint, info: ElementTypeInfo, index: number): number | bigint {
  const [lo, hi] = info.range!;
  if (value < lo || value > hi)
    throw invalid(`${what}: element ${index} is ${value}, out of range for ${info.label} [${lo}, ${hi}]`);
  return value;
}

/**
 * Converts a runtime output to a wire tensor: its elements in raw_data (a view over the tensor's
 * own buffer, not a copy) when `raw` is true, in the typed field of its type otherwise. STRING
 * tensors always use string_data.
 */
export function encodeTensor(tensor: HostTensor, raw: boolean): WireTensor {
  const info = elementType(tensor.type);
  const wire = emptyWireTensor(info.wire, tensor.dims);
  const data = tensor.data;
  if (Array.isArray(data)) {
    wire.stringData = data.map((s) => Buffer.from(s, 'utf8'));
    return wire;
  }
  if (raw) {
    wire.rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return wire;
  }
  switch (info.typedField) {
    case 'floatData':
      wire.floatData =
        info.type === 'float16' ? Array.from(data as Uint16Array, fromFloat16Bits) : Array.from(data as Float32Array);
      break;
    case 'doubleData':
      wire.doubleData = Array.from(data as Float64Array);
      break;
    case 'int32Data':
      wire.int32Data = Array.from(data as Exclude<NumericArray, BigInt64Array | BigUint64Array>);
      break;
    case 'int64Data':
      wire.int64Data =
        info.type === 'uint32' ? Array.from(data as Uint32Array, BigInt) : Array.from(data as BigInt64Array);
      break;
    case 'uint64Data':
      wire.uint64Data = Array.from(data as BigUint64Array);
      break;
    case 'boolData':
      wire.boolData = Array.from(data as Uint8Array, (b) => b !== 0);
      break;
    case 'stringData':
      break;
  }
  return wire;
}

/** A wire tensor of `datatype` and `dims` with every element field empty. */
export function emptyWireTensor(datatype: number, dims: readonly number[]): WireTensor {
  return {
    datatype,
    shape: dims.map(BigInt),
    rawData: new Uint8Array(0),
    floatData: [],
    doubleData: [],
    int32Data: [],
    int64Data: [],
    uint64Data: [],
    boolData: [],
    stringData: [],
  };
}
