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
