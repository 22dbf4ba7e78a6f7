import { performance } from 'node:perf_hooks';

/** Where calibration starts: a run of a millisecond or so. */
const FIRST_SIDE = 128;
/** Largest side tried: 64 MiB a matrix. A machine that runs even that in less than a test needs is not one we know. */
const MAX_SIDE = 4096;

export interface SlowRun {
  /** The `side` of slowModel's request at which one run took `runMs`. */
  readonly side: number;
  /** Wall-clock ms of that run, from the call to its answer: the baseline for any bound the test keeps. */
  readonly runMs: number;
}

/**
 * Finds how much work makes one run of slowModel take at least `atLeastMs` on this machine, as it
 * is loaded right now: runs it through `run` (a Predict, an OIP call, a session of the test's own)
 * at a growing side (work grows with side³) until one run takes that long, aiming for 1.5 times
 * the target so that the machine speeding up a little later does not undercut it. The first run
 * is not timed (it warms the instance up). Rejects with `run`'s error, or when even MAX_SIDE runs
 * faster than the target.
 */
export async function calibrateSlowRun(run: (side: number) => Promise<unknown>, atLeastMs: number): Promise<SlowRun> {
  let side = FIRST_SIDE;
  await run(side);
  for (;;) {
    const started = performance.now();
    await run(side);
    const runMs = performance.now() - started;
    if (runMs >= atLeastMs) return { side, runMs };
    if (side >= MAX_SIDE)
      throw new Error(
        `slowModel: a run at side ${side} took ${runMs.toFixed(0)} ms, less than the ${atLeastMs} ms the test needs`,
      );
    // At least a quarter more (the timing of a short run is mostly overhead), at most 4 times (64 times the work).
    const grow = Math.min(4, Math.max(1.25, Math.cbrt((1.5 * atLeastMs) / Math.max(runMs, 0.1))));
    side = Math.min(MAX_SIDE, Math.ceil(side * grow));
  }
}
