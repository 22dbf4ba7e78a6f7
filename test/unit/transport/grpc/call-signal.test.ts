import { EventEmitter } from 'node:events';
import type { Deadline } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { InferdError } from '../../../../src/inferd-error';
import type { CancelSignal } from '../../../../src/scheduler/cancel-signal';
import {
  callCancellation,
  callSignal,
  type CallSignal,
  type CancellableCall,
} from '../../../../src/transport/grpc/call-signal';

/** A grpc-js server call as far as cancellation goes: 'cancelled' when the test emits it, and a deadline. */
class FakeCall extends EventEmitter implements CancellableCall {
  constructor(private readonly deadline: Deadline = Infinity) {
    super();
  }

  getDeadline(): Deadline {
    return this.deadline;
  }
}

const both: [string, (call: CancellableCall) => CallSignal<CancelSignal>][] = [
  ['callSignal (an AbortSignal)', callSignal],
  ['callCancellation', callCancellation],
];

const described = (signal: CancelSignal): [boolean, string | undefined, string | undefined] => [
  signal.aborted,
  (signal.reason as InferdError | undefined)?.code,
  (signal.reason as InferdError | undefined)?.message,
];

describe('callSignal and callCancellation', () => {
  for (const [name, watch] of both) {
    describe(name, () => {
      it('fires once with CANCELLED when the client cancels: each listener once, in the order added, none added after', () => {
        const call = new FakeCall();
        const { signal } = watch(call);
        const heard: string[] = [];
        signal.addEventListener('abort', () => heard.push('first'), { once: true });
        signal.addEventListener('abort', () => heard.push('second'), { once: true });
        expect(described(signal)).to.deep.equal([false, undefined, undefined]);
        call.emit('cancelled');
        call.emit('cancelled');
        signal.addEventListener('abort', () => heard.push('after'), { once: true });
        expect([heard, described(signal)]).to.deep.equal([
          ['first', 'second'],
          [true, 'CANCELLED', 'the client cancelled the call'],
        ]);
      });

      it('does not call a listener removed before it fires, or removed by the listener before it while it fires', () => {
        const call = new FakeCall();
        const { signal } = watch(call);
        const heard: string[] = [];
        const removed = (): number => heard.push('removed');
        const third = (): number => heard.push('third');
        signal.addEventListener('abort', removed);
        signal.addEventListener('abort', () => {
          heard.push('second');
          signal.removeEventListener('abort', third);
        });
        signal.addEventListener('abort', third);
        signal.removeEventListener('abort', removed);
        call.emit('cancelled');
        expect(heard).to.deep.equal(['second']);
      });

      it('fires with DEADLINE_EXCEEDED at once for a deadline already passed, and when a later one passes', async () => {
        const passed = watch(new FakeCall(Date.now() - 1)).signal;
        expect(described(passed)).to.deep.equal([
          true,
          'DEADLINE_EXCEEDED',
          'the deadline passed before the model ran the request',
        ]);
        // Far enough ahead that no stall of the machine passes it before the next line.
        const later = watch(new FakeCall(new Date(Date.now() + 2_000))).signal;
        expect(later.aborted).to.equal(false);
        await new Promise<void>((resolve) => later.addEventListener('abort', resolve));
        expect(described(later)).to.deep.equal([
          true,
          'DEADLINE_EXCEEDED',
          'the deadline passed before the model ran the request',
        ]);
      });

      it('stops watching the call once disposed: no listener left on it, a cancel after it does not fire', () => {
        const call = new FakeCall();
        const { signal, dispose } = watch(call);
        expect(call.listenerCount('cancelled')).to.equal(1);
        dispose();
        call.emit('cancelled');
        expect([call.listenerCount('cancelled'), signal.aborted]).to.deep.equal([0, false]);
      });
    });
  }
});
