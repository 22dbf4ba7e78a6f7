import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/** Field numbers of onnx.proto that this reader follows. */
const MODEL_GRAPH = 7;
const MODEL_FUNCTIONS = 25;
const GRAPH_NODE = 1;
const NODE_OP_TYPE = 4;
const NODE_DOMAIN = 7;

/** What a model file's main graph is made of, read from its ONNX protobuf without a runtime. */
export interface ModelOps {
  /** Each node's operator, as `domain:op_type` for a domain other than the default one (ai.onnx). */
  readonly ops: ReadonlySet<string>;
  /** The model defines functions of its own (ops that may hide any other op). */
  readonly hasFunctions: boolean;
}

/** Reads the operators of a model's main graph. Throws on bytes that are not a protobuf message. */
export function readModelOps(bytes: Uint8Array): ModelOps {
  const ops = new Set<string>();
  let hasFunctions = false;
  const model = new BinaryReader(bytes);
  while (model.pos < model.len) {
    const [field, wire] = model.tag();
    if (field === MODEL_GRAPH && wire === WireType.LengthDelimited) readGraph(model.bytes(), ops);
    else {
      if (field === MODEL_FUNCTIONS) hasFunctions = true;
      model.skip(wire, field);
    }
  }
  return { ops, hasFunctions };
}

function readGraph(bytes: Uint8Array, ops: Set<string>): void {
  const graph = new BinaryReader(bytes);
  while (graph.pos < graph.len) {
    const [field, wire] = graph.tag();
    if (field !== GRAPH_NODE || wire !== WireType.LengthDelimited) {
      graph.skip(wire, field);
      continue;
    }
    const node = new BinaryReader(graph.bytes());
    let opType = '';
    let domain = '';
    while (node.pos < node.len) {
      const [f, w] = node.tag();
      if (f === NODE_OP_TYPE && w === WireType.LengthDelimited) opType = node.string();
      else if (f === NODE_DOMAIN && w === WireType.LengthDelimited) domain = node.string();
      else node.skip(w, f);
    }
    ops.add(domain === '' || domain === 'ai.onnx' ? opType : `${domain}:${opType}`);
  }
}

/**
 * Operators whose work depends only on the shapes of their inputs, never on the values: run on
 * inputs of a given shape, such a graph takes about as long whatever the request holds. Left out
 * on purpose: control flow (If, Loop, Scan), and operators whose output size comes from input
 * values (Expand, Tile, Range, ConstantOfShape, Pad, Resize, Upsample, TopK, NonZero,
 * NonMaxSuppression, OneHot, ...).
 */
export const SHAPE_BOUND_OPS: ReadonlySet<string> = new Set([
  // elementwise and activations
  'Abs',
  'Acos',
  'Acosh',
  'Add',
  'And',
  'Asin',
  'Asinh',
  'Atan',
  'Atanh',
  'BitShift',
  'Cast',
  'CastLike',
  'Ceil',
  'Celu',
  'Clip',
  'Cos',
  'Cosh',
  'Div',
  'Elu',
  'Equal',
  'Erf',
  'Exp',
  'Floor',
  'Gelu',
  'Greater',
  'GreaterOrEqual',
  'HardSigmoid',
  'HardSwish',
  'Identity',
  'IsInf',
  'IsNaN',
  'LeakyRelu',
  'Less',
  'LessOrEqual',
  'Log',
  'Max',
  'Mean',
  'Min',
  'Mish',
  'Mod',
  'Mul',
  'Neg',
  'Not',
  'Or',
  'Pow',
  'PRelu',
  'Reciprocal',
  'Relu',
  'Round',
  'Selu',
  'Shrink',
  'Sigmoid',
  'Sign',
  'Sin',
  'Sinh',
  'Softplus',
  'Softsign',
  'Sqrt',
  'Sub',
  'Sum',
  'Tan',
  'Tanh',
  'ThresholdedRelu',
  'Where',
  'Xor',
  'Dropout',
  // linear algebra, convolution, normalisation, pooling
  'BatchNormalization',
  'Conv',
  'ConvInteger',
  'ConvTranspose',
  'Gemm',
  'GlobalAveragePool',
  'GlobalLpPool',
  'GlobalMaxPool',
  'AveragePool',
  'MaxPool',
  'LpPool',
  'InstanceNormalization',
  'LayerNormalization',
  'GroupNormalization',
  'LpNormalization',
  'LRN',
  'MatMul',
  'MatMulInteger',
  'QLinearConv',
  'QLinearMatMul',
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
  // reductions
  'ArgMax',
  'ArgMin',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceMax',
  'ReduceMean',
  'ReduceMin',
  'ReduceProd',
  'ReduceSum',
  'ReduceSumSquare',
  'CumSum',
  // moving data without making more of it than the inputs hold
  'Concat',
  'DepthToSpace',
  'Flatten',
  'Gather',
  'GatherElements',
  'GatherND',
  'Reshape',
  'Shape',
  'Size',
  'Slice',
  'SpaceToDepth',
  'Split',
  'Squeeze',
  'Transpose',
  'Unsqueeze',
  'Constant',
  'ScatterElements',
  'ScatterND',
  'Trilu',
]);
