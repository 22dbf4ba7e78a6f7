/**
 * Tensors of the Open Inference Protocol (package `inference`), as plain data: the shapes of
 * the generated messages, so that the tensor code converts them without depending on generated
 * code. Field meanings are in proto/inference/grpc_service.proto.
 */

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
