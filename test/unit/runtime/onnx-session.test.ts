import * as path from 'node:path';
import { expect } from 'chai';
import { InferdError } from '../../../src/inferd-error';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { OnnxSession } from '../../../src/runtime/onnx-session';
import type { HostTensor } from '../../../src/tensor/tensor-types';

const OCR_CLS = path.join(
  PACKAGE_ROOT,
  'node_modules',
  '@gutenye',
  'ocr-models',
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
);
const OPTIONS = {
  intraOpThreads: 1,
  interOpThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
} as const;
const input = (rows: number): Record<string, HostTensor> => ({
  x: { type: 'float32', dims: [rows, 3, 48, 192], data: new Float32Array(rows * 3 * 48 * 192).fill(0.5) },
});

describe('OnnxSession', function () {
  this.timeout(60_000);
  let session: OnnxSession;

  before(async () => {
    session = await OnnxSession.create(OCR_CLS, OPTIONS);
  });

  after(async () => {
    await session.close();
  });

  it('runs what it is handed in order, and skips a run whose signal fires before the worker begins it', async () => {
    const first = session.run(input(32), ['softmax_0.tmp_0']);
    const controller = new AbortController();
    const skipped = session.run(input(1), ['softmax_0.tmp_0'], controller.signal).catch((e: unknown) => e);
    const last = session.run(input(2), ['softmax_0.tmp_0'], new AbortController().signal);
    // The worker is busy with the first run (or has not read it yet): the second has not begun.
    controller.abort(new InferdError('DEADLINE_EXCEEDED', 'too late'));
    expect((await first)['softmax_0.tmp_0']!.dims).to.deep.equal([32, 2]);
    const err = (await skipped) as InferdError;
    expect([err.code, err.message]).to.deep.equal(['DEADLINE_EXCEEDED', 'too late']);
    expect((await last)['softmax_0.tmp_0']!.dims).to.deep.equal([2, 2]);
    expect(session.busy).to.equal(0);
  });

  it('refuses a run whose signal already fired without sending it', async () => {
    const controller = new AbortController();
    controller.abort(new InferdError('CANCELLED', 'gone'));
    const err = (await session
      .run(input(1), ['softmax_0.tmp_0'], controller.signal)
      .catch((e: unknown) => e)) as InferdError;
    expect(err.code).to.equal('CANCELLED');
    expect(session.busy).to.equal(0);
  });

  it('moves a feed that spans its buffer to the worker, and copies one that is a view into a larger buffer, leaving that buffer whole', async () => {
    const rowElements = 3 * 48 * 192;
    const owned = input(1);
    const shared = new Float32Array(2 * rowElements).fill(0.5);
    const view: Record<string, HostTensor> = {
      x: { type: 'float32', dims: [1, 3, 48, 192], data: shared.subarray(rowElements) },
    };
    const [fromOwned, fromView] = await Promise.all([
      session.run(owned, ['softmax_0.tmp_0']),
      session.run(view, ['softmax_0.tmp_0']),
    ]);
    expect(Array.from(fromView['softmax_0.tmp_0']!.data as Float32Array)).to.deep.equal(
      Array.from(fromOwned['softmax_0.tmp_0']!.data as Float32Array),
    );
    expect([owned['x']!.data.length, shared.length, view['x']!.data.length]).to.deep.equal([
      0,
      2 * rowElements,
      rowElements,
    ]); // moved; left whole
  });
});
