import * as path from 'node:path';
import { expect } from 'chai';
import { InferdError } from '../../../src/inferd-error';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { MainThreadSession } from '../../../src/runtime/main-thread-session';
import { OnnxSession } from '../../../src/runtime/onnx-session';
import type { Runner } from '../../../src/scheduler/runner';
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
const OUTPUT = 'softmax_0.tmp_0';
/** A new input each time: a worker session takes its feeds' buffers. */
const input = (rows: number, channels = 3): Record<string, HostTensor> => ({
  x: { type: 'float32', dims: [rows, channels, 48, 192], data: new Float32Array(rows * channels * 48 * 192).fill(0.5) },
});
const rowsOf = async (run: Promise<Record<string, HostTensor>>): Promise<number> => (await run)[OUTPUT]!.dims[0]!;

interface Subject extends Runner {
  close(): Promise<void>;
}

/**
 * The Runner contract the batcher relies on, checked on both model instances: a session on a
 * worker thread and a session on the main thread, each over the same real model.
 */
const subjects: { name: string; open: () => Promise<Subject> }[] = [
  { name: 'OnnxSession (worker thread)', open: () => OnnxSession.create(OCR_CLS, OPTIONS) },
  { name: 'MainThreadSession', open: () => MainThreadSession.create(OCR_CLS, OPTIONS) },
];

for (const { name, open } of subjects) {
  describe(`Runner contract: ${name}`, function () {
    this.timeout(60_000);
    let session: Subject;

    before(async () => {
      session = await open();
    });

    after(async () => {
      await session.close();
    });

    it('runs what it is handed in order, each run answering with its own outputs', async () => {
      const settled: number[] = [];
      const runs = [3, 1, 2].map((rows) =>
        rowsOf(session.run(input(rows), [OUTPUT])).then((n) => (settled.push(n), n)),
      );
      expect(await Promise.all(runs)).to.deep.equal([3, 1, 2]);
      expect(settled).to.deep.equal([3, 1, 2]);
    });

    it('skips a run whose signal fires after it was handed over but before it began: it rejects with the reason and yields no outputs, and the next run goes on', async () => {
      const settled: string[] = [];
      const first = session.run(input(64), [OUTPUT]).then(() => settled.push('first'));
      const controller = new AbortController();
      const skipped = session.run(input(5), [OUTPUT], controller.signal).then(
        () => (settled.push('skipped ran'), 'it ran'),
        (e: unknown) => (settled.push('skipped rejected'), e),
      );
      const last = rowsOf(session.run(input(2), [OUTPUT], new AbortController().signal)).then(
        (n) => (settled.push('last'), n),
      );
      // The first run (64 rows) is under way, or not yet read by its thread: the second has not begun.
      const reason = new InferdError('DEADLINE_EXCEEDED', 'too late');
      controller.abort(reason);
      expect(await skipped).to.equal(reason);
      expect(await last).to.equal(2);
      await first;
      expect(settled).to.deep.equal(['first', 'skipped rejected', 'last']);
    });

    it("refuses a run whose signal already fired, with the signal's reason", async () => {
      const controller = new AbortController();
      const reason = new InferdError('CANCELLED', 'gone');
      controller.abort(reason);
      expect(await session.run(input(1), [OUTPUT], controller.signal).catch((e: unknown) => e)).to.equal(reason);
      expect(await rowsOf(session.run(input(1), [OUTPUT]))).to.equal(1);
    });

    it("fails a run the runtime refuses with INTERNAL carrying the runtime's message, and runs the next one", async () => {
      const refused = session.run(input(1, 2), [OUTPUT]).catch((e: unknown) => e);
      const next = rowsOf(session.run(input(1), [OUTPUT]));
      const err = (await refused) as InferdError;
      expect(err).to.be.instanceOf(InferdError);
      expect(err.code).to.equal('INTERNAL');
      expect(err.message).to.match(/^model run failed: .*dimensions/);
      expect(await next).to.equal(1);
    });

    it('lets runs handed over before close() end, then refuses new ones with UNAVAILABLE; close() is safe to call twice', async () => {
      const closing = await open();
      const handed = [rowsOf(closing.run(input(4), [OUTPUT])), rowsOf(closing.run(input(1), [OUTPUT]))];
      const closed = closing.close();
      const again = closing.close();
      const err = (await closing.run(input(1), [OUTPUT]).catch((e: unknown) => e)) as InferdError;
      expect([err.code, err.message]).to.deep.equal(['UNAVAILABLE', 'model instance is closed']);
      expect(await Promise.all(handed)).to.deep.equal([4, 1]);
      await closed;
      await again;
      await closing.close();
    });
  });
}
