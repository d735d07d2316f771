import type { RestartPolicy } from './instance.js';

/** Back-off between automatic restarts (UKC: immediate, 5 s, 10 s, 20 s, 40 s, … capped at 5 min). */
export function restartDelayMs(attempt: number): number {
  if (attempt <= 0) return 0;
  return Math.min(5_000 * 2 ** (attempt - 1), 300_000);
}

/** A run that lasted this long resets the back-off sequence. */
export const RESTART_RESET_AFTER_MS = 10_000;

export interface ExitFacts {
  exitCode: number | null;
  signal: string | null;
  oomKilled: boolean;
  /** A user or the platform asked for the stop; such exits never restart. */
  requested: boolean;
}

export function shouldRestart(policy: RestartPolicy, exit: ExitFacts): boolean {
  if (exit.requested) return false;
  if (policy === 'always') return true;
  if (policy === 'on-failure') return exit.oomKilled || exit.signal !== null || (exit.exitCode ?? 1) !== 0;
  return false;
}

/**
 * The attempt number of the restart about to be scheduled: 0 (immediate) for the
 * first one, or when the last run stayed up long enough to count as healthy.
 */
export function nextAttempt(previousAttempt: number | undefined, ranForMs: number): number {
  if (previousAttempt === undefined || ranForMs >= RESTART_RESET_AFTER_MS) return 0;
  return previousAttempt + 1;
}
