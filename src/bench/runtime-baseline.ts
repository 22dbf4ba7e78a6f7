import '../runtime/ort-telemetry-off';
import * as ort from 'onnxruntime-node';
import type { HostTensor } from '../tensor/tensor-types';
import { ownCpuMs } from './process-cpu-ms';

/** What the in-process baseline measured. */
export interface RuntimeBaseline {
  readonly runsPerSecond: number;
  readonly rowsPerSecond: number;
  /** CPU time of this process (every thread: JavaScript, ONNX Runtime's) per run, in ms. */
  readonly cpuMsPerRun: number;
}

/**
 * The bench's other baseline: ONNX Runtime's run() called back to back in this process on one
 * session, with no server in between, one request's inputs a run. Resolves with runs (and rows)
 * per second and the CPU each run cost; nothing else may run in this process meanwhile.
 */
export async function runtimeBaseline(
  modelPath: string,
  feeds: Record<string, HostTensor>,
  options: { intraOpThreads: number; durationMs: number },
): Promise<RuntimeBaseline> {
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  try {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type, t.data, t.dims);
    const rows = Object.values(feeds)[0]?.dims[0] ?? 1;
    for (let i = 0; i < 20; i++) await session.run(tensors); // warm-up
    let runs = 0;
    const cpuMs = ownCpuMs();
    const started = performance.now();
    const end = started + options.durationMs;
    // At least one run, so that the figures per run always have one to divide by.
    do {
      await session.run(tensors);
      runs++;
    } while (performance.now() < end);
    const seconds = (performance.now() - started) / 1000;
    return {
      runsPerSecond: runs / seconds,
      rowsPerSecond: (runs * rows) / seconds,
      cpuMsPerRun: (ownCpuMs() - cpuMs) / runs,
    };
  } finally {
    await session.release();
  }
}
