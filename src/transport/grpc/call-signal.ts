import type { Deadline } from '@grpc/grpc-js';
import { InferdError } from '../../inferd-error';

/** Longer than this, Node's timers fire at once; such a deadline is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a call offers for cancellation: grpc-js server calls of every kind. */
export interface CancellableCall {
  getDeadline(): Deadline;
  on(event: 'cancelled', listener: () => void): unknown;
  off(event: 'cancelled', listener: () => void): unknown;
}

export interface CallSignal {
  readonly signal: AbortSignal;
  /** Removes the listener and clears the deadline timer; call when the call is answered. */
  dispose(): void;
}

/**
 * One AbortSignal for a call: it fires with CANCELLED when the client cancels and with
 * DEADLINE_EXCEEDED when the call's deadline passes.
 */
export function callSignal(call: CancellableCall): CallSignal {
  const controller = new AbortController();
  const onCancel = (): void => controller.abort(new InferdError('CANCELLED', 'the client cancelled the call'));
  call.on('cancelled', onCancel);
  let timer: NodeJS.Timeout | undefined;
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(at)) {
    const expire = (): void =>
      controller.abort(new InferdError('DEADLINE_EXCEEDED', 'the deadline passed before the model ran the request'));
    const ms = at - Date.now();
    if (ms <= 0) expire();
    else if (ms <= MAX_TIMER_MS) timer = setTimeout(expire, ms);
  }
  return {
    signal: controller.signal,
    dispose: () => {
      call.off('cancelled', onCancel);
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
