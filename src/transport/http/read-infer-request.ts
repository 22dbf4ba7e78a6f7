import { clipText } from '../../clip-text';
import { InferdError } from '../../inferd-error';
import type { InferDeadline, PendingTensor } from '../../inference';
import { elementType } from '../../tensor/element-types';
import { oipDatatype, oipDatatypeNamed, type OipDatatype } from '../../tensor/oip-codec';
import { checkShape, formatShape, type HostTensor, type TensorSpec } from '../../tensor/tensor-types';
import { binaryTensorData } from './binary-tensor-data';
import { jsonTensorData } from './json-tensor-data';
import { parseJson, type JsonObject, type JsonValue } from './parse-json';

/** What one request may cost to decode (the flags of the gRPC port, with the same meaning). */
export interface RestRequestLimits {
  /** JSON values in one request: tensor elements, shape dimensions, names, parameters. */
  readonly maxRequestElements: number;
  /** BYTES elements in one request, JSON strings or binary elements alike. */
  readonly maxRequestStrings: number;
}

/** An inference request of the REST binding, decoded as far as it can be without the model. */
export interface RestInferRequest {
  /** Echoed in the response; '' when not given. */
  readonly id: string;
  /** Each input by name, decoded against the model by the core. */
  readonly inputs: Readonly<Record<string, PendingTensor>>;
  /** The outputs asked for, in order; [] for all. */
  readonly outputNames: readonly string[];
  /** Whether an output goes back in binary: its own `binary_data` parameter, else the request's `binary_data_output`. */
  binaryOutput(name: string): boolean;
  /** The `timeout` parameter (µs) as a queue deadline; undefined when absent or 0. */
  readonly deadline: InferDeadline | undefined;
}

/** The header of the binary tensor data extension: bytes of JSON at the start of the body. */
export const INFERENCE_HEADER_LENGTH = 'inference-header-content-length';

/** Input parameters that ask for shared memory, which inferd does not have. */
const SHARED_MEMORY_PARAMETERS = ['shared_memory_region', 'shared_memory_offset', 'shared_memory_byte_size'];

/**
 * Reads the body of `POST /v2/models/{m}/infer`: the JSON inference request, followed, when
 * `headerLength` (the Inference-Header-Content-Length header, undefined when absent) is given,
 * by the binary data of the inputs that have `parameters.binary_data_size`, in their order.
 *
 * Throws INVALID_ARGUMENT naming what is wrong (the field, the input, the byte offset of bad
 * JSON) and RESOURCE_EXHAUSTED past a limit. Tensor elements are checked and copied later, by
 * each input's decode(), against what the model declares.
 */
export function readInferRequest(body: Uint8Array, headerLength: string | undefined, limits: RestRequestLimits): RestInferRequest {
  let jsonBytes = body;
  let binary: Uint8Array | undefined;
  if (headerLength !== undefined) {
    const n = /^\d{1,15}$/.test(headerLength.trim()) ? Number(headerLength.trim()) : NaN;
    if (!(n >= 0 && n <= body.length)) {
      throw invalid(`Inference-Header-Content-Length must be a whole number of bytes from 1 to the body's ${body.length}, got "${clipText(headerLength)}"`);
    }
    if (n === 0) throw invalid('Inference-Header-Content-Length is 0: inferd needs the JSON inference header before the binary data');
    jsonBytes = body.subarray(0, n);
    binary = body.subarray(n);
  }
  const json = parseJson(jsonBytes, headerLength === undefined ? 'the request body' : 'the inference header', {
    maxValues: limits.maxRequestElements,
    maxStrings: limits.maxRequestStrings,
    valuesFlag: '--max-request-elements',
    stringsFlag: '--max-request-strings',
  });
  const request = object(json, 'the inference request');
  const id = optionalString(request['id'], '"id"') ?? '';
  const parameters = optionalObject(request['parameters'], '"parameters"');
  const binaryDefault = optionalBool(parameters?.['binary_data_output'], 'parameter "binary_data_output"') ?? false;
  const deadline = timeoutDeadline(parameters?.['timeout']);
  wholeNumber(parameters?.['priority'], 'parameter "priority"');

  const inputsJson = request['inputs'];
  if (!Array.isArray(inputsJson)) throw invalid(`"inputs" must be an array of input tensors, got ${kind(inputsJson)}`);
  const entries: [string, PendingTensor][] = [];
  const names = new Set<string>();
  let at = 0;
  for (let i = 0; i < inputsJson.length; i++) {
    const input = object(inputsJson[i], `inputs[${i}]`);
    const name = requiredString(input['name'], `inputs[${i}].name`);
    const what = `input "${clipText(name)}"`;
    if (names.has(name)) throw invalid(`${what} appears more than once`);
    names.add(name);
    const datatype = requiredString(input['datatype'], `${what}: "datatype"`);
    const shape = shapeOf(input['shape'], what);
    const params = optionalObject(input['parameters'], `${what}: "parameters"`);
    const shared = SHARED_MEMORY_PARAMETERS.find((p) => params?.[p] !== undefined);
    if (shared !== undefined) throw invalid(`${what}: shared memory is not supported (parameter "${shared}"); send the elements in the request`);
    const size = wholeNumber(params?.['binary_data_size'], `${what}: parameter "binary_data_size"`);
    const data = input['data'];
    let bytes: Uint8Array | undefined;
    if (size !== undefined) {
      if (data !== undefined) throw invalid(`${what}: give either "data" or parameters.binary_data_size, not both`);
      if (binary === undefined) throw invalid(`${what} has parameters.binary_data_size, but the request has no Inference-Header-Content-Length header to say where its JSON ends`);
      if (size > binary.length - at) throw invalid(`${what}: binary_data_size is ${size}, but only ${binary.length - at} bytes of binary data are left`);
      bytes = binary.subarray(at, at + size);
      at += size;
    } else if (data === undefined) throw invalid(`${what}: "data" is missing (or send it in binary with parameters.binary_data_size)`);
    entries.push([name, new RestInput(datatype, shape, data, bytes, limits)]);
  }
  if (binary !== undefined && at !== binary.length) {
    throw invalid(`the request has ${binary.length - at} bytes of binary data after the last input's; the inputs' binary_data_size add up to ${at}`);
  }

  const outputNames: string[] = [];
  const binaryAsked = new Map<string, boolean>();
  const outputsJson = request['outputs'];
  if (outputsJson !== undefined) {
    if (!Array.isArray(outputsJson)) throw invalid(`"outputs" must be an array of requested outputs, got ${kind(outputsJson)}`);
    for (let i = 0; i < outputsJson.length; i++) {
      const output = object(outputsJson[i], `outputs[${i}]`);
      const name = requiredString(output['name'], `outputs[${i}].name`);
      const what = `output "${clipText(name)}"`;
      const params = optionalObject(output['parameters'], `${what}: "parameters"`);
      if (params?.['classification'] !== undefined) throw invalid(`${what}: the classification parameter is not supported`);
      const shared = SHARED_MEMORY_PARAMETERS.find((p) => params?.[p] !== undefined);
      if (shared !== undefined) throw invalid(`${what}: shared memory is not supported (parameter "${shared}")`);
      const asked = optionalBool(params?.['binary_data'], `${what}: parameter "binary_data"`);
      if (asked !== undefined) binaryAsked.set(name, asked);
      outputNames.push(name);
    }
  }
  return {
    id,
    // fromEntries makes every name an own property, "__proto__" included.
    inputs: Object.fromEntries(entries),
    outputNames,
    binaryOutput: (name) => binaryAsked.get(name) ?? binaryDefault,
    deadline,
  };
}

/** One input: its datatype, shape and elements as they came, checked and decoded against the model by the core. */
class RestInput implements PendingTensor {
  constructor(
    private readonly datatype: string,
    private readonly shape: readonly (number | bigint)[],
    private readonly data: JsonValue | undefined,
    private readonly binary: Uint8Array | undefined,
    private readonly limits: RestRequestLimits,
  ) {}

  decode(what: string, spec: TensorSpec): HostTensor {
    const declared = oipDatatype(spec.type);
    checkDatatype(what, this.datatype, declared);
    const dims = checkShape(what, this.shape, spec.dims);
    const count = dims.reduce((a, b) => a * b, 1);
    const info = elementType(spec.type);
    const shape = formatShape(dims);
    if (this.binary === undefined) return { type: spec.type, dims, data: jsonTensorData(what, this.data!, declared, info, count, shape) };
    if (info.type === 'string' && count > this.limits.maxRequestStrings) {
      throw new InferdError('RESOURCE_EXHAUSTED', `${what}: shape ${shape} has ${count} BYTES elements, more than ${this.limits.maxRequestStrings} (--max-request-strings)`);
    }
    return { type: spec.type, dims, data: binaryTensorData(what, this.binary, declared, info, count, shape) };
  }
}

function checkDatatype(what: string, sent: string, declared: OipDatatype): void {
  if (sent === declared.name) return;
  const known = oipDatatypeNamed(sent);
  if (known === undefined) throw invalid(`${what}: unknown datatype "${clipText(sent)}"; the model takes ${declared.name}`);
  throw invalid(`${what}: expected datatype ${declared.name}, got ${sent}`);
}

function timeoutDeadline(value: JsonValue | undefined): InferDeadline | undefined {
  const us = wholeNumber(value, 'parameter "timeout" (microseconds)');
  if (us === undefined || us === 0) return undefined;
  return { timeoutMs: us / 1000, source: `the timeout parameter (${us} µs)` };
}

function shapeOf(value: JsonValue | undefined, what: string): (number | bigint)[] {
  if (!Array.isArray(value)) throw invalid(`${what}: "shape" must be an array of whole numbers, got ${kind(value)}`);
  for (let i = 0; i < value.length; i++) {
    const d = value[i];
    if (typeof d !== 'bigint' && !(typeof d === 'number' && Number.isInteger(d))) throw invalid(`${what}: "shape" must be an array of whole numbers, element ${i} is ${kind(d)}`);
  }
  return value as (number | bigint)[];
}

function invalid(message: string): InferdError {
  return new InferdError('INVALID_ARGUMENT', message);
}

function object(value: JsonValue | undefined, what: string): JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${what} must be a JSON object, got ${kind(value)}`);
  return value;
}

function optionalObject(value: JsonValue | undefined, what: string): JsonObject | undefined {
  return value === undefined ? undefined : object(value, what);
}

function requiredString(value: JsonValue | undefined, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string, got ${kind(value)}`);
  return value;
}

function optionalString(value: JsonValue | undefined, what: string): string | undefined {
  return value === undefined ? undefined : requiredString(value, what);
}

function optionalBool(value: JsonValue | undefined, what: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${what} must be true or false, got ${kind(value)}`);
  return value;
}

/** A whole number ≥ 0 that fits a double exactly; undefined when absent. */
function wholeNumber(value: JsonValue | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalid(`${what} must be a whole number ≥ 0, got ${kind(value)}`);
  return value;
}

/** What a JSON value is, for messages: short scalars shown, others by kind. */
function kind(v: JsonValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return v.length <= 32 ? `the string ${JSON.stringify(v)}` : 'a string';
  return String(v);
}
