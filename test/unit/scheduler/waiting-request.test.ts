import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { InferdError } from '../../../src/inferd-error';
import { listenWhileWaiting, stopListening, type WaitingRequest } from '../../../src/scheduler/waiting-request';

interface TestRequest extends WaitingRequest {
  readonly name: string;
}

const waiting = (name: string, signal: AbortSignal): TestRequest => ({
  name,
  signal,
  onAbort: undefined,
  drop: undefined,
});

/** A signal whose addEventListener and removeEventListener calls for 'abort' are counted. */
function countedSignal(): { controller: AbortController; signal: AbortSignal; calls: { add: number; remove: number } } {
  const controller = new AbortController();
  const signal = controller.signal;
  const calls = { add: 0, remove: 0 };
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>): void => {
    if (args[0] === 'abort') calls.add++;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>): void => {
    if (args[0] === 'abort') calls.remove++;
    remove(...args);
  };
  return { controller, signal, calls };
}

describe('listenWhileWaiting', () => {
  it('adds one abort listener to a signal however many requests wait on it, and takes it off when the last leaves', () => {
    const { signal, calls } = countedSignal();
    const requests = Array.from({ length: 300 }, (_, i) => waiting(`r${i}`, signal));
    for (const r of requests) listenWhileWaiting(r, () => undefined);
    expect([calls, getEventListeners(signal, 'abort').length]).to.deep.equal([{ add: 1, remove: 0 }, 1]);
    for (const r of requests.slice(0, 299)) stopListening(r);
    expect([calls, getEventListeners(signal, 'abort').length]).to.deep.equal([{ add: 1, remove: 0 }, 1]);
    stopListening(requests[299]!);
    expect([calls, getEventListeners(signal, 'abort').length]).to.deep.equal([{ add: 1, remove: 1 }, 0]);
    stopListening(requests[299]!); // not waiting any more: nothing to do
    expect(calls).to.deep.equal({ add: 1, remove: 1 });
  });

  it('drops every request still waiting when the signal fires, in the order they began to wait, each once, with the listener gone', () => {
    const { controller, signal } = countedSignal();
    const dropped: string[] = [];
    const requests = ['a', 'b', 'c', 'd'].map((n) => waiting(n, signal));
    for (const r of requests)
      listenWhileWaiting(r, () => dropped.push(`${r.name}:${(signal.reason as Error).message}`));
    stopListening(requests[1]!); // b was answered before the signal fired
    listenWhileWaiting(requests[0]!, () => dropped.push('a by its new holder')); // a changes hands (a batch took it)
    controller.abort(new InferdError('CANCELLED', 'the client cancelled the call'));
    expect(dropped).to.deep.equal([
      'a by its new holder',
      'c:the client cancelled the call',
      'd:the client cancelled the call',
    ]);
    expect(getEventListeners(signal, 'abort')).to.have.length(0);
    expect(requests.map((r) => [r.onAbort, r.drop])).to.deep.equal(Array(4).fill([undefined, undefined]));
  });

  it('does not drop a waiter whose wait another drop ended while the signal fired', () => {
    const controller = new AbortController();
    const dropped: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((n) => waiting(n, controller.signal)) as [
      TestRequest,
      TestRequest,
      TestRequest,
    ];
    listenWhileWaiting(a, () => {
      dropped.push('a');
      stopListening(b); // a's holder answers b (say, its batch was skipped) before b's turn
    });
    listenWhileWaiting(b, () => dropped.push('b'));
    listenWhileWaiting(c, () => dropped.push('c'));
    controller.abort();
    expect(dropped).to.deep.equal(['a', 'c']);
  });

  it('keeps the waiters of each signal apart: one firing drops only its own', () => {
    const first = new AbortController();
    const second = new AbortController();
    const dropped: string[] = [];
    const requests = [waiting('1a', first.signal), waiting('2a', second.signal), waiting('1b', first.signal)];
    for (const r of requests) listenWhileWaiting(r, () => dropped.push(r.name));
    expect([first.signal, second.signal].map((s) => getEventListeners(s, 'abort').length)).to.deep.equal([1, 1]);
    first.abort();
    expect(dropped).to.deep.equal(['1a', '1b']);
    expect([first.signal, second.signal].map((s) => getEventListeners(s, 'abort').length)).to.deep.equal([0, 1]);
    stopListening(requests[1]!);
    expect(getEventListeners(second.signal, 'abort')).to.have.length(0);
  });

  it('listens again on a signal whose waiters all left, for the next request that waits on it', () => {
    const controller = new AbortController();
    const dropped: string[] = [];
    const first = waiting('first', controller.signal);
    listenWhileWaiting(first, () => dropped.push('first'));
    stopListening(first);
    const next = waiting('next', controller.signal);
    listenWhileWaiting(next, () => dropped.push('next'));
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(1);
    controller.abort();
    expect(dropped).to.deep.equal(['next']);
  });
});
