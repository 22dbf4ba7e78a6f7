import type { WallClock } from '../../src/jobs/wall-clock';

/** A wall clock that moves only when the test says: advance() fires the timers that come due, in time order. */
export class FakeWallClock implements WallClock {
  private timers: { id: number; at: number; f: () => void }[] = [];
  private nextId = 1;

  constructor(private nowMs: number) {}

  now(): number {
    return this.nowMs;
  }

  setTimeout(f: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ id, at: this.nowMs + Math.max(0, ms), f });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Timers waiting. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing each timer due on the way at its own time. */
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.nowMs = Math.max(this.nowMs, due.at);
      due.f();
    }
    this.nowMs = end;
  }
}
