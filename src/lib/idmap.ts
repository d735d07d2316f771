/**
 * Every sandbox runs in a user namespace where ids 0..SANDBOX_ID_COUNT-1 map to
 * a range of host ids. Range 0 (SANDBOX_ID_BASE..) owns the shared rootfs trees
 * (their owners shifted by that base) and is never given to an instance: each
 * instance gets its own range k >= 1 (idRangeBase), so no sandbox's root owns
 * the shared files or another sandbox's processes. The trees are made readable
 * (and searchable) by others, which is how sandboxes read them.
 */
export const SANDBOX_ID_BASE = 100000;
export const SANDBOX_ID_COUNT = 65536;

export const toHostId = (id: number): number => SANDBOX_ID_BASE + (id % SANDBOX_ID_COUNT);

/** Instance ranges a node hands out: k = 1..MAX_ID_RANGES (host ids up to ~2^28). */
export const MAX_ID_RANGES = 4096;

/** Host id of uid 0 inside a sandbox with range k. */
export const idRangeBase = (k: number): number => SANDBOX_ID_BASE + k * SANDBOX_ID_COUNT;
