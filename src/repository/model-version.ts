import type { InferdError } from '../inferd-error';
import { ModelQueue } from '../scheduler/model-queue';
import { OnnxSession, type SessionOptions } from '../runtime/onnx-session';
import type { TensorSpec } from '../tensor/tensor-types';

export interface ModelVersionOptions {
  /** Sessions to run side by side, each on a worker thread of its own. */
  readonly instances: number;
  readonly session: SessionOptions;
  readonly maxQueueSize: number;
}

/**
 * One loaded version of a model: its sessions and the queue in front of them. The inputs and
 * outputs are those its first session reports.
 */
export class ModelVersion {
  private closed: Promise<void> | undefined;

  private constructor(
    readonly name: string,
    readonly version: string,
    private readonly sessions: readonly OnnxSession[],
    readonly queue: ModelQueue,
  ) {}

  get inputs(): readonly TensorSpec[] {
    return this.sessions[0]!.inputs;
  }

  get outputs(): readonly TensorSpec[] {
    return this.sessions[0]!.outputs;
  }

  /** Loads every instance; rejects with the runtime's reason when any fails (closing the others). */
  static async create(name: string, version: string, modelPath: string, options: ModelVersionOptions): Promise<ModelVersion> {
    const loads = Array.from({ length: options.instances }, () => OnnxSession.create(modelPath, options.session));
    const settled = await Promise.allSettled(loads);
    const sessions = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(sessions.map((s) => s.close()));
      throw failed.reason;
    }
    const queue = new ModelQueue(sessions, { maxQueueSize: options.maxQueueSize, label: `model "${name}" version ${version}` });
    return new ModelVersion(name, version, sessions, queue);
  }

  /** Fails queued and running requests with `reason` at once (see OnnxSession.abandon). */
  abandon(reason: InferdError): void {
    this.queue.failWaiting(reason);
    for (const s of this.sessions) s.abandon(reason);
  }

  /** Waits for queued and running requests, then closes the sessions. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= this.queue.whenIdle().then(async () => {
      await Promise.all(this.sessions.map((s) => s.close()));
    });
    return this.closed;
  }
}
