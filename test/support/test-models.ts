import { encodeOnnxModel } from '../../src/example-models/encode-onnx-model';

/** A model whose Reshape to [2,2] fails inside ONNX Runtime unless x has exactly 4 elements. */
export function reshapeModel(): Uint8Array {
  return encodeOnnxModel({
    graphName: 'reshape',
    inputs: [{ name: 'x', elemType: 'FLOAT', dims: ['n'] }],
    outputs: [{ name: 'y', elemType: 'FLOAT', dims: [2, 2] }],
    initializers: [{ name: 'shape', dims: [2], data: BigInt64Array.of(2n, 2n) }],
    nodes: [{ opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
  });
}

/** The element types inferd serves, by their ONNX name, with the client's datatype name. */
export const ELEMENT_TYPES = [
  ['FLOAT', 'FLOAT32'],
  ['DOUBLE', 'FLOAT64'],
  ['FLOAT16', 'FLOAT16'],
  ['INT8', 'INT8'],
  ['INT16', 'INT16'],
  ['INT32', 'INT32'],
  ['INT64', 'INT64'],
  ['UINT8', 'UINT8'],
  ['UINT16', 'UINT16'],
  ['UINT32', 'UINT32'],
  ['UINT64', 'UINT64'],
  ['BOOL', 'BOOL'],
  ['STRING', 'STRING'],
] as const;

/**
 * One Identity per element type in `types` (ONNX names): input `x_<datatype>` [n] → output
 * `y_<datatype>` [n], datatype names lower-cased (x_float32, y_int64...), each with its own `n`.
 */
export function identitiesModel(types: readonly (typeof ELEMENT_TYPES)[number][]): Uint8Array {
  const io = (prefix: string) =>
    types.map(([onnx, name]) => ({
      name: `${prefix}_${name.toLowerCase()}`,
      elemType: onnx,
      dims: [`n_${name.toLowerCase()}`],
    }));
  return encodeOnnxModel({
    graphName: 'identities',
    inputs: io('x'),
    outputs: io('y'),
    nodes: types.map(([, name]) => ({
      opType: 'Identity',
      inputs: [`x_${name.toLowerCase()}`],
      outputs: [`y_${name.toLowerCase()}`],
    })),
  });
}
