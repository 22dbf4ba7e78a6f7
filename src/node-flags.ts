/**
 * The V8 flags inferd's server runs with: `npm start`, the first line of bin/inferd.js, the
 * image's entrypoint and the bench's child processes all pass them on node's command line (V8
 * reads them when the heap is set up; NODE_OPTIONS refuses them).
 *
 * `--no-memory-reducer`: V8's memory reducer shrinks the heap of a process that has gone quiet.
 * A server that sat idle after it started and then took large requests (110 KiB tensors) stayed
 * with the shrunk heap's limits and collected its whole heap many times a second for as long as
 * the load lasted, where one started with this flag collects its young generation instead:
 * docs/benchmarks.md, "V8's memory reducer".
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];

/** Whether V8's memory reducer is on in a process started with these node flags (V8 also reads `_` for `-`). */
export function memoryReducerOn(execArgv: readonly string[] = process.execArgv): boolean {
  let on = true;
  for (const flag of execArgv) {
    const f = flag.replace(/_/g, '-');
    if (f === '--no-memory-reducer' || f === '--nomemory-reducer') on = false;
    else if (f === '--memory-reducer') on = true;
  }
  return on;
}
