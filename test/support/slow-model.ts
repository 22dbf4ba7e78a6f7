import { encodeOnnxModel, type OnnxNode } from '../../src/example-models/encode-onnx-model';

/** MatMuls {@link slowModel} chains, each of two side×side float32 matrices. */
export const SLOW_MODEL_MATMULS = 32;

/**
 * A test-only model whose run takes as long as the request asks, so that a test can size the work
 * to the machine it runs on (see calibrateSlowRun) instead of assuming how fast that machine is.
 *
 * Inputs float32 `x` and int64 `side`, both [1,1]. From `side` it builds the side×side identity I,
 * takes M = x·I, and chains SLOW_MODEL_MATMULS MatMuls of M, so a run does 2·32·side³ multiply-adds
 * (about 1 s at side 1000 on one intra-op thread of the machine this was written on) and holds a
 * few side×side matrices (4·side² bytes each). Every matrix is built from the inputs, so nothing
 * folds at load time, and every operator past Concat is value-bound, so inferd never places it on
 * the main thread. The default zero warm-up runs it at side 0, at once.
 *
 * Output float32 `y` [1,1] = the sum of M^33 = x^33·side: exactly `side` for x = 1 and 0 for x = 0
 * (products of 0 and 1 only).
 *
 * With `batchable`, both inputs and `y` are ["batch", 1] and `y` = x row for row (the chain, run
 * at the largest side of the batch, adds 0·side), so the dynamic batcher stacks its requests.
 */
export function slowModel(opts: { batchable?: boolean } = {}): Uint8Array {
  const dims = opts.batchable === true ? ['batch', 1] : [1, 1];
  const nodes: OnnxNode[] = [
    { opType: 'ReduceMax', inputs: ['side'], outputs: ['side_max'], name: 'largest_side' },
    { opType: 'Reshape', inputs: ['side_max', 'one_dim'], outputs: ['side_1'], name: 'side_as_1d' },
    {
      opType: 'Concat',
      inputs: ['side_1', 'side_1'],
      outputs: ['square'],
      name: 'square_shape',
      attributes: { axis: { int: 0 } },
    },
    { opType: 'ConstantOfShape', inputs: ['square'], outputs: ['zeros'], name: 'zeros' },
    { opType: 'EyeLike', inputs: ['zeros'], outputs: ['eye'], name: 'identity' },
    { opType: 'ReduceMax', inputs: ['x'], outputs: ['x_max'], name: 'x_scalar' },
    { opType: 'Mul', inputs: ['eye', 'x_max'], outputs: ['m0'], name: 'scaled_identity' },
  ];
  for (let i = 1; i <= SLOW_MODEL_MATMULS; i++)
    nodes.push({ opType: 'MatMul', inputs: [`m${i - 1}`, 'm0'], outputs: [`m${i}`], name: `matmul${i}` });
  nodes.push({
    opType: 'ReduceSum',
    inputs: [`m${SLOW_MODEL_MATMULS}`],
    outputs: opts.batchable === true ? ['sum'] : ['y'],
    name: 'sum',
  });
  if (opts.batchable === true) {
    nodes.push({ opType: 'Mul', inputs: ['sum', 'zero'], outputs: ['nothing'], name: 'zero_it' });
    nodes.push({ opType: 'Add', inputs: ['x', 'nothing'], outputs: ['y'], name: 'x_plus_nothing' });
  }
  return encodeOnnxModel({
    graphName: opts.batchable === true ? 'slow_batchable' : 'slow',
    inputs: [
      { name: 'x', elemType: 'FLOAT', dims },
      { name: 'side', elemType: 'INT64', dims },
    ],
    outputs: [{ name: 'y', elemType: 'FLOAT', dims }],
    initializers: [
      { name: 'one_dim', dims: [1], data: BigInt64Array.of(1n) },
      ...(opts.batchable === true ? [{ name: 'zero', dims: [1], data: Float32Array.of(0) }] : []),
    ],
    nodes,
  });
}
