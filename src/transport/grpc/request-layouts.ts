/**
 * What scanRequest needs to know of the request messages that carry tensors: for each field
 * number, how its values are counted. Field numbers are those of proto/inferd/v1 and
 * proto/inference/grpc_service.proto; fields not listed are skipped unread.
 */

/** How the values of one field are counted. */
export type FieldLayout =
  /** A repeated scalar, packed or not: each element one value. */
  | { readonly name: string; readonly kind: 'varint' | 'fixed32' | 'fixed64' }
  /** A repeated string or bytes field: each entry one value; with `strings`, each a tensor element of that type too. */
  | { readonly name: string; readonly kind: 'entries'; readonly strings?: 'STRING' | 'BYTES' }
  /** A message field, walked into; `repeated` counts each occurrence as one value (map entries included). */
  | { readonly name: string; readonly kind: 'message'; readonly layout: MessageLayout; readonly repeated: boolean }
  /** Singular strings the scan reads: the request's id, an input's name, an input's datatype. */
  | { readonly name: string; readonly kind: 'id' | 'input-name' | 'datatype' }
  /** raw_input_contents: entries, the i-th holding the elements of the i-th input (BYTES ones length-prefixed). */
  | { readonly name: string; readonly kind: 'raw-entries' };

export interface MessageLayout {
  /** The message as it is named in errors, e.g. inferd.v1.PredictRequest. */
  readonly name: string;
  /** This message is one input of the request: its fields (and those of messages in it) are named after it. */
  readonly input?: boolean;
  readonly fields: ReadonlyMap<number, FieldLayout>;
}

const layout = (name: string, fields: [number, FieldLayout][], input = false): MessageLayout => ({
  name,
  input,
  fields: new Map(fields),
});

const TENSOR = layout('inferd.v1.Tensor', [
  [2, { name: 'shape', kind: 'varint' }],
  [4, { name: 'float_data', kind: 'fixed32' }],
  [5, { name: 'double_data', kind: 'fixed64' }],
  [6, { name: 'int32_data', kind: 'varint' }],
  [7, { name: 'int64_data', kind: 'varint' }],
  [8, { name: 'uint64_data', kind: 'varint' }],
  [9, { name: 'bool_data', kind: 'varint' }],
  [10, { name: 'string_data', kind: 'entries', strings: 'STRING' }],
]);

/** One entry of PredictRequest.inputs (map<string, Tensor>). */
const INPUTS_ENTRY = layout(
  'inferd.v1.PredictRequest.InputsEntry',
  [
    [1, { name: 'key', kind: 'input-name' }],
    [2, { name: 'value', kind: 'message', layout: TENSOR, repeated: false }],
  ],
  true,
);

export const PREDICT_REQUEST = layout('inferd.v1.PredictRequest', [
  [3, { name: 'inputs', kind: 'message', layout: INPUTS_ENTRY, repeated: true }],
  [4, { name: 'output_names', kind: 'entries' }],
  [5, { name: 'id', kind: 'id' }],
]);

export const SUBMIT_PREDICTION_REQUEST = layout('inferd.v1.SubmitPredictionRequest', [
  [1, { name: 'request', kind: 'message', layout: PREDICT_REQUEST, repeated: false }],
]);

const INFER_TENSOR_CONTENTS = layout('inference.InferTensorContents', [
  [1, { name: 'bool_contents', kind: 'varint' }],
  [2, { name: 'int_contents', kind: 'varint' }],
  [3, { name: 'int64_contents', kind: 'varint' }],
  [4, { name: 'uint_contents', kind: 'varint' }],
  [5, { name: 'uint64_contents', kind: 'varint' }],
  [6, { name: 'fp32_contents', kind: 'fixed32' }],
  [7, { name: 'fp64_contents', kind: 'fixed64' }],
  [8, { name: 'bytes_contents', kind: 'entries', strings: 'BYTES' }],
]);

/** A parameters map entry: counted, not walked into (its value is one InferParameter). */
const PARAMETERS_ENTRY = layout('inference.InferParameter entry', []);

const INFER_INPUT_TENSOR = layout(
  'inference.ModelInferRequest.InferInputTensor',
  [
    [1, { name: 'name', kind: 'input-name' }],
    [2, { name: 'datatype', kind: 'datatype' }],
    [3, { name: 'shape', kind: 'varint' }],
    [4, { name: 'parameters', kind: 'message', layout: PARAMETERS_ENTRY, repeated: true }],
    [5, { name: 'contents', kind: 'message', layout: INFER_TENSOR_CONTENTS, repeated: false }],
  ],
  true,
);

const INFER_REQUESTED_OUTPUT_TENSOR = layout('inference.ModelInferRequest.InferRequestedOutputTensor', [
  [2, { name: 'parameters', kind: 'message', layout: PARAMETERS_ENTRY, repeated: true }],
]);

export const MODEL_INFER_REQUEST = layout('inference.ModelInferRequest', [
  [3, { name: 'id', kind: 'id' }],
  [4, { name: 'parameters', kind: 'message', layout: PARAMETERS_ENTRY, repeated: true }],
  [5, { name: 'inputs', kind: 'message', layout: INFER_INPUT_TENSOR, repeated: true }],
  [6, { name: 'outputs', kind: 'message', layout: INFER_REQUESTED_OUTPUT_TENSOR, repeated: true }],
  [7, { name: 'raw_input_contents', kind: 'raw-entries' }],
]);

/** The layout of each method's request that carries tensors, by method path. */
export const REQUEST_LAYOUTS: ReadonlyMap<string, MessageLayout> = new Map([
  ['/inferd.v1.PredictionService/Predict', PREDICT_REQUEST],
  ['/inferd.v1.PredictionService/PredictStream', PREDICT_REQUEST],
  ['/inferd.v1.JobService/SubmitPrediction', SUBMIT_PREDICTION_REQUEST],
  ['/inference.GRPCInferenceService/ModelInfer', MODEL_INFER_REQUEST],
  ['/inference.GRPCInferenceService/ModelStreamInfer', MODEL_INFER_REQUEST],
]);
