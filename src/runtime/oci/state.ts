/**
 * The on-disk facts a shim-managed OCI sandbox leaves in its state directory
 * (pid files, the exit record the shim writes), read the same way by every
 * driver built on hangar-shim, and the timers their polling loops use.
 */
import { access, readFile } from 'node:fs/promises';
import type { SandboxExit } from '../../core/ports/runtime.js';

/** Keeps the process alive while it runs (operations the caller awaits to completion). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Does not keep the process alive (waitExit may stay pending forever). */
export const idle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** `p`, or undefined after `ms` (the timer keeps the process alive and is cleared when p settles). */
export async function orTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

export async function readPid(file: string): Promise<number | undefined> {
  const n = Number((await readFile(file, 'latin1').catch(() => '')).trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function parseExit(text: string): SandboxExit | undefined {
  try {
    const j = JSON.parse(text) as { exitCode?: unknown; signal?: unknown; oomKilled?: unknown; lost?: unknown; at?: unknown };
    return {
      exitCode: typeof j.exitCode === 'number' ? j.exitCode : null,
      signal: typeof j.signal === 'string' ? j.signal : null,
      oomKilled: j.oomKilled === true,
      ...(j.lost === true ? { lost: true } : {}),
      at: new Date(typeof j.at === 'number' ? j.at : Date.now()),
    };
  } catch {
    return undefined;
  }
}
