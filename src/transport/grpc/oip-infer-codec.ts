import type { InferParameter, ModelInferRequest, ModelInferResponse } from '../../../generated/inference/grpc_service';
import { clipText } from '../../clip-text';
import { InferdError } from '../../inferd-error';
import type { InferRequest, InferResult, PendingTensor } from '../../inference';
import { decodeOipTensor, encodeOipTensor, oipInputs, refuseContentsBesideRaw, type OipInput } from '../../tensor/oip-codec';

/** Input parameters that ask for shared memory, which inferd does not have. */
const SHARED_MEMORY_PARAMETERS = ['shared_memory_region', 'shared_memory_offset', 'shared_memory_byte_size'];

/** What inferd reads from a ModelInferRequest's parameters; the others are accepted and left alone. */
export interface OipRequestParameters {
  /** `timeout`, in microseconds: how long the request may wait in the queue; undefined for no limit (absent or 0). */
  readonly timeoutUs: bigint | undefined;
  /** `priority`: accepted and checked; every ModelInfer request runs at real-time priority whatever it says. */
  readonly priority: bigint | undefined;
}

/** A whole number ≥ 0 from an int64 or uint64 parameter; throws INVALID_ARGUMENT for any other value. */
function wholeNumber(name: string, p: InferParameter, unit: string): bigint {
  const value = p.int64Param ?? p.uint64Param;
  if (value === undefined) throw new InferdError('INVALID_ARGUMENT', `parameter "${name}" must be an int64_param or uint64_param (${unit})`);
  if (value < 0n) throw new InferdError('INVALID_ARGUMENT', `parameter "${name}" must be 0 or more (${unit}), got ${value}`);
  return value;
}

/** Reads `timeout` and `priority`. Throws INVALID_ARGUMENT when either is not a whole number ≥ 0. */
export function oipParameters(parameters: Readonly<Record<string, InferParameter>>): OipRequestParameters {
  const timeout = parameters['timeout'];
  const priority = parameters['priority'];
  const timeoutUs = timeout === undefined ? undefined : wholeNumber('timeout', timeout, 'microseconds');
  return {
    timeoutUs: timeoutUs === 0n ? undefined : timeoutUs,
    priority: priority === undefined ? undefined : wholeNumber('priority', priority, '0 for the default level, 1 for the highest'),
  };
}

/**
 * A ModelInferRequest as the core takes it, after the checks the protocol adds to the core's:
 * no typed contents beside raw ones (first, see refuseContentsBesideRaw), its parameters (`timeout` becomes the request's deadline), no shared memory, no
 * classification, raw_input_contents that fit the inputs (see oipInputs). Each input stays as
 * it came until the core knows what the model declares for it (see decodeOipTensor). Throws
 * INVALID_ARGUMENT.
 */
export function inferRequestOf(request: ModelInferRequest): InferRequest {
  refuseContentsBesideRaw(request.inputs, request.rawInputContents, request.modelName);
  const { timeoutUs } = oipParameters(request.parameters);
  for (const input of request.inputs) {
    const asked = SHARED_MEMORY_PARAMETERS.find((p) => input.parameters[p] !== undefined);
    if (asked !== undefined) throw new InferdError('INVALID_ARGUMENT', `input "${clipText(input.name)}": shared memory is not supported (parameter "${asked}"); send the elements in the request`);
  }
  for (const output of request.outputs) {
    if (output.parameters['classification'] !== undefined) throw new InferdError('INVALID_ARGUMENT', `output "${clipText(output.name)}": the classification parameter is not supported`);
  }
  // fromEntries keeps every name an own property, "__proto__" included.
  const inputs = Object.fromEntries(Object.entries(oipInputs(request.inputs, request.rawInputContents, request.modelName)).map(([name, input]) => [name, pendingTensor(input)]));
  return {
    modelName: request.modelName,
    modelVersion: request.modelVersion,
    inputs,
    outputNames: request.outputs.map((o) => o.name),
    ...(timeoutUs === undefined ? {} : { deadline: { timeoutMs: Number(timeoutUs) / 1000, source: `the timeout parameter (${timeoutUs} µs)` } }),
  };
}

function pendingTensor(input: OipInput): PendingTensor {
  return { decode: (what, spec) => decodeOipTensor(what, input, spec) };
}

/** The answer to request `id` from its result: every output in raw_output_contents, the protocol's raw form (see encodeOipTensor). */
export function modelInferResponseOf(result: InferResult, id: string): ModelInferResponse {
  const response: ModelInferResponse = { modelName: result.modelName, modelVersion: result.modelVersion, id, parameters: {}, outputs: [], rawOutputContents: [] };
  for (const { name, tensor } of result.outputs) {
    const out = encodeOipTensor(tensor);
    response.outputs.push({ name, datatype: out.datatype, shape: out.shape, parameters: {}, contents: undefined });
    response.rawOutputContents.push(out.raw);
  }
  return response;
}
