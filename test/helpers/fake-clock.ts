import type { Clock, TimerHandle } from '../../src/core/ports/clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  done: boolean;
}

/** Lets every promise job queued so far (and the ones those queue) run. */
export const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

/**
 * A Clock whose time moves only when a test says so. `advance` fires due
 * timers in time order (ties in the order they were set), letting the async
 * work each one starts settle before the next fires.
 */
export class FakeClock implements Clock {
  private ms: number;
  private seq = 0;
  private readonly timers: Timer[] = [];

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.ms = start;
  }

  now(): Date {
    return new Date(this.ms);
  }

  monoUs(): number {
    return this.ms * 1000;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const t: Timer = { at: this.ms + Math.max(0, ms), seq: this.seq++, fn, done: false };
    this.timers.push(t);
    return { cancel: () => void (t.done = true), unref: () => undefined };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.setTimer(ms, r));
  }

  async advance(ms: number): Promise<void> {
    const end = this.ms + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((t) => !t.done && t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.ms = due.at;
      due.done = true;
      due.fn();
    }
    this.ms = end;
    await settle();
  }

  /** Timers set and neither fired nor cancelled. */
  pending(): number {
    return this.timers.filter((t) => !t.done).length;
  }
}
