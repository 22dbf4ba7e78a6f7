/**
 * Body of a session worker thread: it owns one ONNX Runtime session and runs it on request, so
 * that the synchronous native run() never blocks the main thread. Started by OnnxSession.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { openSession, runSession, timeRuns } from './ort-session';
import { SKIP_FLAGS, type FromWorker, type ToWorker, type WorkerStart } from './worker-messages';

const port = parentPort!;
const start = workerData as WorkerStart;
const skipFlags = new Int32Array(start.skipFlags);

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

type Job = Exclude<ToWorker, { kind: 'close' }>;

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  try {
    const opened = await openSession(start.modelPath, start.options);
    session = opened.session;
    post({ kind: 'ready', inputs: opened.inputs, outputs: opened.outputs });
  } catch (err) {
    post({ kind: 'load-failed', message: err instanceof Error ? err.message : String(err) });
    port.close();
    return;
  }

  // Runs one at a time, in the order sent. Whether the main thread wants a run skipped is read
  // just before it begins, so a run handed over while another is in progress can still be
  // dropped until then.
  const queue: Job[] = [];
  let drained: Promise<void> = Promise.resolve();
  let pumping = false;
  const pump = async (): Promise<void> => {
    pumping = true;
    try {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        if (Atomics.load(skipFlags, next.id % SKIP_FLAGS) === 1) post({ kind: 'skipped', id: next.id });
        else await perform(session, next);
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

async function perform(session: ort.InferenceSession, job: Job): Promise<void> {
  try {
    if (job.kind === 'time') {
      post({ kind: 'timed', id: job.id, runUs: await timeRuns(session, job.feeds, job.outputNames, job.timing) });
      return;
    }
    const outputs = await runSession(session, job.feeds, job.outputNames);
    const transfer = new Set<ArrayBuffer>();
    for (const t of Object.values(outputs)) if (!Array.isArray(t.data)) transfer.add(t.data.buffer as ArrayBuffer);
    post({ kind: 'result', id: job.id, outputs }, [...transfer]);
  } catch (err) {
    post({ kind: 'run-failed', id: job.id, message: err instanceof Error ? err.message : String(err) });
  }
}

void main();
