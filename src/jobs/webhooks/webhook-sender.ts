import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CallbackPolicy } from './callback-policy';
import type { Job } from '../job';
import type { Delivery, JobStore } from '../job-store';
import type { WallClock } from '../wall-clock';

export interface WebhookSenderOptions {
  /** The HMAC-SHA256 key of X-Inferd-Signature. */
  readonly secret: string;
  /** Wait before the first retry; each later one waits twice as long (at most an hour). */
  readonly retryMs: number;
  /** Attempts in all before a delivery is given up. */
  readonly maxAttempts: number;
  /** How long one attempt may take. */
  readonly timeoutMs: number;
  readonly policy: CallbackPolicy;
  /** How long a claimed delivery is this replica's: one not settled by then (its replica died) is retried by another, with the same id. */
  readonly claimMs: number;
  readonly clock: WallClock;
  readonly log: Logger;
}

/** Deliveries in flight at once. */
const MAX_IN_FLIGHT = 8;
const MAX_RETRY_MS = 3_600_000;
/** After the store could not be read, the wait before looking again. */
const STORE_RETRY_MS = 1000;

/** Headers of every call. */
const SIGNATURE_HEADER = 'x-inferd-signature';
const DELIVERY_HEADER = 'x-inferd-delivery';

/**
 * Calls jobs' callback URLs when they end: a POST of `{"job_id", "kind", "state", "total",
 * "processed", "failed", "output_uri"?, "error"?}` (JSON), signed with `X-Inferd-Signature:
 * sha256=<hex HMAC-SHA256 of the body>` and carrying `X-Inferd-Delivery: <id>`. Both the body
 * and the id are fixed when the job ends, so retries are byte-identical and a receiver can
 * de-duplicate. A delivery is retried with exponential backoff until a 2xx answer (redirects
 * are not followed: they could lead off the allow-list) or `maxAttempts`. Deliveries wait in
 * the job store, so they survive a restart.
 */
export class WebhookSender {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  private timer: unknown;
  private closed: Promise<void> | undefined;
  private started = false;
  /** This replica's name: deliveries are claimed under it (set by start()). */
  private replicaId = '';
  private pumping = false;
  private again = false;

  constructor(
    private readonly store: JobStore,
    private readonly options: WebhookSenderOptions,
  ) {}

  /** The delivery to queue for a job that has just ended, or undefined when it has no callback URL. */
  deliveryFor(job: Job): Omit<Delivery, 'attempts' | 'lastError'> | undefined {
    if (job.callbackUrl === '') return undefined;
    const body: Record<string, unknown> = {
      job_id: job.id,
      kind: job.spec.kind,
      state: job.state,
      total: job.total,
      processed: job.processed,
      failed: job.failed,
    };
    if (job.spec.kind === 'batch') body['output_uri'] = job.spec.outputUri;
    if (job.error !== undefined) body['error'] = { code: job.error.code, message: job.error.message };
    return { id: randomUUID(), jobId: job.id, url: job.callbackUrl, body: JSON.stringify(body), dueMs: this.options.clock.now() };
  }

  /** Sends what is due now, and keeps sending as deliveries come due. */
  start(replicaId: string): void {
    this.replicaId = replicaId;
    this.started = true;
    this.pump();
  }

  /** A delivery was queued: send it now. */
  kick(): void {
    this.pump();
  }

  /** Stops: cancels calls in flight (they stay queued in the store) and clears the timer. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.options.clock.clearTimeout(this.timer);
      this.stopping.abort();
      await Promise.allSettled(this.inFlight.values());
    })();
    return this.closed;
  }

  /** One pass at a time (a call meanwhile makes another follow); a store that cannot be reached is tried again in a second. */
  private pump(): void {
    if (this.closed !== undefined || !this.started) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.pass()
      .catch((err: unknown) => {
        this.options.log.warn({ reason: (err as Error).message }, 'webhook deliveries wait: the job store cannot be read');
        if (this.closed === undefined) this.timer = this.options.clock.setTimeout(() => this.pump(), STORE_RETRY_MS);
      })
      .finally(() => {
        this.pumping = false;
        if (this.again) {
          this.again = false;
          this.pump();
        }
      });
  }

  private async pass(): Promise<void> {
    const { clock } = this.options;
    clock.clearTimeout(this.timer);
    this.timer = undefined;
    const room = MAX_IN_FLIGHT - this.inFlight.size;
    if (room > 0) {
      for (const d of await this.store.claimDeliveries(clock.now(), room, this.replicaId, this.options.claimMs)) {
        if (this.inFlight.has(d.id) || this.inFlight.size >= MAX_IN_FLIGHT) continue;
        const sending = this.send(d)
          .finally(() => {
            this.inFlight.delete(d.id);
            this.pump();
          })
          // A store failure (disk full, busy) must not take the process down: the delivery stays pending.
          .catch((err: unknown) => this.options.log.error({ err, delivery: d.id }, 'webhook delivery bookkeeping failed'));
        this.inFlight.set(d.id, sending);
      }
    }
    if (this.inFlight.size >= MAX_IN_FLIGHT || this.closed !== undefined) return; // the next to finish pumps again
    const next = await this.store.nextDeliveryDueMs();
    if (this.closed !== undefined) return;
    clock.clearTimeout(this.timer);
    if (next !== undefined && (next > clock.now() || this.inFlight.size === 0)) {
      this.timer = clock.setTimeout(() => this.pump(), Math.max(0, next - clock.now()));
    }
  }

  private async send(d: Delivery): Promise<void> {
    const { clock, log, policy } = this.options;
    if (!policy.allows(d.url)) {
      await this.store.deleteDelivery(d.id);
      log.warn({ job: d.jobId, delivery: d.id }, 'webhook dropped: its host is no longer allowed');
      return;
    }
    const signature = createHmac('sha256', this.options.secret).update(d.body, 'utf8').digest('hex');
    let failure: string;
    try {
      const response = await fetch(d.url, {
        method: 'POST',
        body: d.body,
        redirect: 'manual',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: `sha256=${signature}`, [DELIVERY_HEADER]: d.id },
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) {
        await this.store.deleteDelivery(d.id);
        log.info({ job: d.jobId, delivery: d.id, attempts: d.attempts + 1, status: response.status }, 'webhook delivered');
        return;
      }
      failure = `HTTP ${response.status}`;
    } catch (err) {
      if (this.stopping.signal.aborted) return; // stays queued, as it was
      failure = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    }
    const attempts = d.attempts + 1;
    if (attempts >= this.options.maxAttempts) {
      await this.store.deleteDelivery(d.id);
      log.warn({ job: d.jobId, delivery: d.id, attempts, reason: failure }, 'webhook given up');
      return;
    }
    const waitMs = Math.min(this.options.retryMs * 2 ** (attempts - 1), MAX_RETRY_MS);
    await this.store.deliveryFailed(d.id, attempts, clock.now() + waitMs, failure);
    log.warn({ job: d.jobId, delivery: d.id, attempts, retryInMs: waitMs, reason: failure }, 'webhook failed; will retry');
  }
}
