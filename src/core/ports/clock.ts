/** Time source, injectable so core logic is testable without waiting. */
export interface Clock {
  now(): Date;
  /** Monotonic microseconds, for durations. */
  monoUs(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  monoUs: () => Number(process.hrtime.bigint() / 1000n),
};
