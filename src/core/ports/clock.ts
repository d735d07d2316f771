/**
 * Time source and timers, injectable so timer-heavy core logic (restart
 * back-off, drain, stop grace, readiness polling, scale-to-zero) is testable
 * with a fake clock instead of waiting.
 */
export interface Clock {
  now(): Date;
  /** Monotonic microseconds, for durations. */
  monoUs(): number;
  /** Calls fn once after ms. */
  setTimer(ms: number, fn: () => void): TimerHandle;
  sleep(ms: number): Promise<void>;
}

export interface TimerHandle {
  cancel(): void;
  /** Lets the process exit while the timer is pending (background work, not a caller's wait). */
  unref(): void;
}

export const systemClock: Clock = {
  now: () => new Date(),
  monoUs: () => Number(process.hrtime.bigint() / 1000n),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t), unref: () => void t.unref() };
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};
