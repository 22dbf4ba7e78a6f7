/**
 * Body of a session worker thread: it owns one ONNX Runtime session and runs it on request, so
 * that the synchronous native run() never blocks the main thread. Started by OnnxSession.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { elementTypeOfRuntime, type NumericArray } from '../tensor/element-types';
import type { HostTensor, TensorSpec } from '../tensor/tensor-types';
import { SKIP_FLAGS, type FromWorker, type ToWorker, type WorkerStart } from './worker-messages';

const port = parentPort!;
const start = workerData as WorkerStart;
const skipFlags = new Int32Array(start.skipFlags);

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function describe(values: readonly ort.InferenceSession.ValueMetadata[], kind: string): TensorSpec[] {
  return values.map((v) => {
    if (!v.isTensor) throw new Error(`${kind} "${v.name}" is not a tensor; inferd serves tensor inputs and outputs only`);
    const info = elementTypeOfRuntime(v.type);
    if (info === undefined) throw new Error(`${kind} "${v.name}" has element type ${v.type}, which inferd does not serve`);
    return { name: v.name, type: info.type, dims: v.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
  });
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  let inputs: TensorSpec[];
  let outputs: TensorSpec[];
  try {
    const o = start.options;
    session = await ort.InferenceSession.create(start.modelPath, {
      intraOpNumThreads: o.intraOpThreads,
      interOpNumThreads: o.interOpThreads,
      executionMode: o.executionMode,
      graphOptimizationLevel: o.graphOptimizationLevel,
      // Failures reach the caller (and our log) as errors; ORT's own stderr lines would repeat them.
      logSeverityLevel: 4,
      // Spinning threads would take CPU from the main thread's network work between runs.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    inputs = describe(session.inputMetadata, 'input');
    outputs = describe(session.outputMetadata, 'output');
  } catch (err) {
    post({ kind: 'load-failed', message: err instanceof Error ? err.message : String(err) });
    port.close();
    return;
  }
  post({ kind: 'ready', inputs, outputs });

  // Runs one at a time, in the order sent. Whether the main thread wants a run skipped is read
  // just before it begins, so a run handed over while another is in progress can still be
  // dropped until then.
  const queue: Extract<ToWorker, { kind: 'run' }>[] = [];
  let drained: Promise<void> = Promise.resolve();
  let pumping = false;
  const pump = async (): Promise<void> => {
    pumping = true;
    try {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        if (Atomics.load(skipFlags, next.id % SKIP_FLAGS) === 1) post({ kind: 'skipped', id: next.id });
        else await run(session, next.id, next.feeds, next.outputNames);
      }
    } finally {
      pumping = false;
    }
  };
  port.on('message', (message: ToWorker) => {
    if (message.kind === 'close') {
      // Runs sent before the close finish first; then the session goes.
      void drained
        .then(() => session.release())
        .finally(() => {
          post({ kind: 'closed' });
          port.close();
        });
      return;
    }
    queue.push(message);
    if (!pumping) drained = pump();
  });
}

async function run(session: ort.InferenceSession, id: number, feeds: Record<string, HostTensor>, outputNames: readonly string[]): Promise<void> {
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    const results = await session.run(ortFeeds, outputNames as string[]);
    const outputs: Record<string, HostTensor> = {};
    const transfer = new Set<ArrayBuffer>();
    for (const name of outputNames) {
      const t = results[name] as ort.Tensor;
      const data = t.data as NumericArray | string[];
      outputs[name] = { type: t.type as HostTensor['type'], dims: t.dims, data };
      if (!Array.isArray(data)) transfer.add(data.buffer as ArrayBuffer);
    }
    post({ kind: 'result', id, outputs }, [...transfer]);
  } catch (err) {
    post({ kind: 'run-failed', id, message: err instanceof Error ? err.message : String(err) });
  }
}

void main();
