import type { ElementType, TensorData } from './element-types';

/**
 * A tensor as the runtime takes it: element type, dimensions, elements. The data's buffer is
 * owned by whoever holds the tensor and may be transferred to a worker thread, after which it is
 * detached here.
 */
export interface HostTensor {
  readonly type: ElementType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/**
 * The wire Tensor of inferd.v1, as plain data: the shape of the generated message, so the core
 * converts it without depending on generated code. Field meanings are in proto/inferd/v1/tensor.proto.
 */
export interface WireTensor {
  datatype: number;
  shape: bigint[];
  rawData: Uint8Array;
  floatData: number[];
  doubleData: number[];
  int32Data: number[];
  int64Data: bigint[];
  uint64Data: bigint[];
  boolData: boolean[];
  stringData: Uint8Array[];
}

/** What a model declares for one input or output. A dimension of -1 takes any size. */
export interface TensorSpec {
  readonly name: string;
  readonly type: ElementType;
  readonly dims: readonly number[];
}
