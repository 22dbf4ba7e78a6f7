import type { InferResult } from '../../inference';
import { encodeOipTensor, oipDatatype } from '../../tensor/oip-codec';
import { jsonDataText } from './json-data-text';

/** A response body of the REST binding: the JSON, then binary data when some output goes in binary. */
export interface InferResponseBody {
  /** The JSON text, then each binary output's bytes in the order of `outputs` (numeric ones views over the tensors' buffers). */
  readonly chunks: readonly Uint8Array[];
  /** Bytes of JSON at the start, for the Inference-Header-Content-Length header; undefined when the body is all JSON. */
  readonly headerLength: number | undefined;
}

/**
 * The body answering an inference: `{"model_name", "model_version", "id"?, "outputs": [...]}`
 * with each output's name, datatype and shape, and either its elements in `data` or, when
 * `binary(name)` says so, `parameters.binary_data_size` and its bytes after the JSON (the binary
 * tensor data extension: numeric elements little-endian and packed, BYTES each a 4-byte
 * little-endian length and then the bytes).
 */
export function writeInferResponse(result: InferResult, id: string, binary: (name: string) => boolean): InferResponseBody {
  const parts: string[] = [];
  const data: Uint8Array[] = [];
  for (const { name, tensor } of result.outputs) {
    const head = `{"name":${JSON.stringify(name)},"datatype":"${oipDatatype(tensor.type).name}","shape":[${tensor.dims.join(',')}]`;
    if (binary(name)) {
      const raw = encodeOipTensor(tensor).raw;
      data.push(raw);
      parts.push(`${head},"parameters":{"binary_data_size":${raw.byteLength}}}`);
    } else parts.push(`${head},"data":${jsonDataText(tensor)}}`);
  }
  const idText = id === '' ? '' : `,"id":${JSON.stringify(id)}`;
  const json = Buffer.from(`{"model_name":${JSON.stringify(result.modelName)},"model_version":${JSON.stringify(result.modelVersion)}${idText},"outputs":[${parts.join(',')}]}`, 'utf8');
  return data.length === 0 ? { chunks: [json], headerLength: undefined } : { chunks: [json, ...data], headerLength: json.byteLength };
}
