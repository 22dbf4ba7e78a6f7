import type { ClientReadableStream, ServiceError, StatusObject } from '@grpc/grpc-js';

/**
 * The messages of a server-streaming call, as an async generator that ends when the call ends
 * OK and throws the call's ServiceError when it fails (after yielding every message that came
 * before). Leaving the generator early cancels the call.
 */
export async function* serverStreamMessages<T>(call: ClientReadableStream<T>): AsyncGenerator<T, void, undefined> {
  const queue: T[] = [];
  let status: StatusObject | undefined;
  let error: ServiceError | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  call.on('data', (message: T) => {
    queue.push(message);
    notify();
  });
  call.on('error', (err: ServiceError) => {
    error = err;
    notify();
  });
  call.on('status', (s: StatusObject) => {
    status = s;
    notify();
  });
  try {
    for (;;) {
      if (queue.length > 0) yield queue.shift()!;
      else if (error !== undefined) throw error;
      else if (status !== undefined) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    if (status === undefined) call.cancel();
  }
}
