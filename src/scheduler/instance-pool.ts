import type { HostTensor } from '../tensor/tensor-types';
import type { CancelSignal } from './cancel-signal';
import type { Runner } from './runner';
import { listenWhileWaiting, stopListening, type WaitingRequest } from './waiting-request';

/** What the pool needs of a request in a batch (S: its signal's type). */
export interface BatchedRequest<S extends CancelSignal = AbortSignal> extends WaitingRequest<S> {
  reject(reason: unknown): void;
}

/** A batch handed to an instance: running, or waiting in the instance behind the run before it. */
export interface AssignedBatch<R extends BatchedRequest<CancelSignal>> {
  readonly instance: Runner;
  /** How runs name the instance (RunStart.instance). */
  readonly instanceId: number | string;
  readonly requests: readonly R[];
  readonly rows: number;
  /** Requests dropped while the batch waited behind another run, each answered already. */
  readonly dropped: ReadonlySet<R>;
  /** The run's outputs (buffers the caller owns), or its error: the runner's, or the skip's reason. */
  readonly outputs: Promise<Record<string, HostTensor>>;
}

export interface InstancePoolEvents<R extends BatchedRequest<CancelSignal>> {
  /**
   * A batch's run begins: it is first in its instance. Returns what to call when the run ends.
   * Not called for a batch skipped because every request in it was dropped.
   */
  runBegins(batch: AssignedBatch<R>): ((err: unknown) => void) | undefined;
  /** A request's signal fired while its batch waited behind another run: it was rejected with the signal's reason. */
  requestDropped(request: R): void;
}

/** The dropped set of a batch that began at once: nothing can be dropped from it. */
const NONE_DROPPED: Set<never> = new Set();

interface Batch<R extends BatchedRequest<CancelSignal>> extends AssignedBatch<R> {
  dropped: Set<R>;
  /**
   * Only for a batch that waits behind another run (one that begins at once cannot be skipped):
   * its signal, handed to the runner, fires once every request is dropped. Making one costs a
   * measurable share of a tiny model's request, so one that never fired serves again once its
   * run has settled (a runner is done with a run's signal then, see Runner.run).
   */
  readonly skip: AbortController | undefined;
  begun: boolean;
  ended: ((err: unknown) => void) | undefined;
}

/**
 * The instances of one model version and the batches handed to each. An instance runs one batch
 * at a time; batches handed to a busy instance wait in it, in order (the runner keeps them). A
 * request in a waiting batch stays droppable until the batch begins; a batch whose requests are
 * all dropped is skipped by the runner, never run.
 */
export class InstancePool<R extends BatchedRequest<CancelSignal>> {
  /** Per instance, the batches handed to it, in order; the first one runs. */
  private readonly batchesOf = new Map<Runner, Batch<R>[]>();
  /** Instances with nothing handed to them; the one freed last is used first. */
  private readonly idle: Runner[];
  private readonly ids = new Map<Runner, number | string>();
  private assignedCount = 0;
  /** Skip controllers of settled runs, never fired, for the next batches that wait behind a run. */
  private readonly spareSkips: AbortController[] = [];

  /** `instanceIds`: how runs name each instance, in the order of the runners; default 0, 1, … */
  constructor(
    runners: readonly Runner[],
    private readonly events: InstancePoolEvents<R>,
    instanceIds: readonly (number | string)[] = [],
  ) {
    this.idle = [...runners];
    runners.forEach((r, i) => {
      this.batchesOf.set(r, []);
      this.ids.set(r, instanceIds[i] ?? i);
    });
  }

  /** Batches handed over and not ended: running, or waiting behind a run. */
  get inFlight(): number {
    return this.assignedCount;
  }

  /** The instance to use next among those with nothing to do; undefined when all are busy. */
  idleInstance(): Runner | undefined {
    return this.idle.at(-1);
  }

  /** The first instance, in instance order, that runs a batch and has none waiting behind it. */
  instanceWithNothingBehind(): Runner | undefined {
    for (const [instance, batches] of this.batchesOf) if (batches.length === 1) return instance;
    return undefined;
  }

  /**
   * Hands a batch to an instance (idle or busy): calls its runner at once with `feeds`. The
   * batch's run ends with release(); until then it counts as in flight.
   */
  assign(
    instance: Runner,
    requests: readonly R[],
    rows: number,
    feeds: Record<string, HostTensor>,
    outputNames: readonly string[],
  ): AssignedBatch<R> {
    const batches = this.batchesOf.get(instance)!;
    const behind = batches.length > 0;
    if (!behind) {
      const i = this.idle.lastIndexOf(instance);
      if (i === this.idle.length - 1) this.idle.pop();
      else this.idle.splice(i, 1);
    }
    const skip = behind ? (this.spareSkips.pop() ?? new AbortController()) : undefined;
    let outputs: Promise<Record<string, HostTensor>>;
    try {
      outputs = instance.run(feeds, outputNames, skip?.signal);
    } catch (err) {
      outputs = Promise.reject(err);
    }
    const batch: Batch<R> = {
      instance,
      instanceId: this.ids.get(instance)!,
      requests,
      rows,
      outputs,
      skip,
      dropped: behind ? new Set() : NONE_DROPPED,
      begun: false,
      ended: undefined,
    };
    batches.push(batch);
    this.assignedCount++;
    if (behind) {
      // The listener a request had in the queue stays on (see waiting-request.ts); the batch takes it over.
      for (const r of requests) listenWhileWaiting(r, () => this.drop(batch, r));
    } else {
      this.begin(batch);
    }
    return batch;
  }

  /**
   * The batch's run settled (with `err` when it failed or was skipped): the observer of its run
   * is told, then its instance begins the next batch handed to it, or is idle.
   */
  release(assigned: AssignedBatch<R>, err: unknown): void {
    const batch = assigned as Batch<R>;
    const ended = batch.ended;
    batch.ended = undefined;
    ended?.(err);
    this.assignedCount--;
    if (!batch.begun) {
      // Settled before it began (its runner refused it at once): its requests wait no more, and
      // its skip controller, still listened to by nothing but possibly fired later, is not reused.
      for (const r of batch.requests) stopListening(r);
    } else if (batch.skip !== undefined && !batch.skip.signal.aborted) this.spareSkips.push(batch.skip);
    const batches = this.batchesOf.get(batch.instance)!;
    if (batches[0] === batch) batches.shift();
    else batches.splice(batches.indexOf(batch), 1);
    if (batches.length === 0) this.idle.push(batch.instance);
    else if (!batches[0]!.begun) this.begin(batches[0]!);
  }

  private begin(batch: Batch<R>): void {
    batch.begun = true;
    for (const r of batch.requests) stopListening(r);
    if (batch.skip?.signal.aborted === true) return;
    batch.ended = this.events.runBegins(batch);
  }

  private drop(batch: Batch<R>, request: R): void {
    if (batch.begun || batch.dropped.has(request)) return;
    batch.dropped.add(request);
    request.reject(request.signal.reason);
    this.events.requestDropped(request);
    if (batch.dropped.size === batch.requests.length) batch.skip!.abort(request.signal.reason);
  }
}
