import '../runtime/ort-telemetry-off';
import * as ort from 'onnxruntime-node';
import type { HostTensor } from '../tensor/tensor-types';
import { ownCpuMs } from './process-cpu-ms';

/** What the in-process baseline measured over one or more stretches of runs. */
export interface RuntimeResult {
  readonly runs: number;
  readonly seconds: number;
  readonly runsPerSecond: number;
  readonly rowsPerSecond: number;
  /** CPU time of this process (every thread: JavaScript, ONNX Runtime's) per run, in ms. */
  readonly cpuMsPerRun: number;
  /** With several stretches: each one's runs/s. */
  readonly rounds: readonly number[];
}

/**
 * The bench's in-process baseline: ONNX Runtime's run() called back to back in this process on
 * one session (one intra-op thread, no spinning), with no server in between, one request's inputs
 * a run. `measure` may be called many times, between the bench's other measurements; nothing
 * else may run in this process meanwhile. close() releases the session.
 */
export class RuntimeBaseline {
  private runs = 0;
  private seconds = 0;
  private cpuMs = 0;
  private readonly perRound: number[] = [];

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly feeds: Record<string, ort.Tensor>,
    private readonly rows: number,
  ) {}

  /** Loads the model and runs it 20 times, unmeasured. */
  static async create(modelPath: string, feeds: Record<string, HostTensor>): Promise<RuntimeBaseline> {
    const session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type, t.data, t.dims);
    for (let i = 0; i < 20; i++) await session.run(tensors);
    return new RuntimeBaseline(session, tensors, Object.values(feeds)[0]?.dims[0] ?? 1);
  }

  /** Runs back to back for `durationMs`, adding them to the result. */
  async measure(durationMs: number): Promise<void> {
    let runs = 0;
    const cpuMs = ownCpuMs();
    const started = performance.now();
    const end = started + durationMs;
    // At least one run, so that the figures per run always have one to divide by.
    do {
      await this.session.run(this.feeds);
      runs++;
    } while (performance.now() < end);
    const seconds = (performance.now() - started) / 1000;
    this.runs += runs;
    this.seconds += seconds;
    this.cpuMs += ownCpuMs() - cpuMs;
    this.perRound.push(runs / seconds);
  }

  /** Every stretch measured so far, as one. */
  result(): RuntimeResult {
    return {
      runs: this.runs,
      seconds: this.seconds,
      runsPerSecond: this.runs / this.seconds,
      rowsPerSecond: (this.runs * this.rows) / this.seconds,
      cpuMsPerRun: this.cpuMs / this.runs,
      rounds: [...this.perRound],
    };
  }

  close(): Promise<void> {
    return this.session.release();
  }
}
