/**
 * Every sandbox runs in a user namespace where ids 0..SANDBOX_ID_COUNT-1 map to
 * host ids SANDBOX_ID_BASE.. . Shared rootfs trees are unpacked with their owners
 * shifted by the same base, so root inside owns its files without being root outside.
 * One mapping for all sandboxes keeps a rootfs shareable between them.
 */
export const SANDBOX_ID_BASE = 100000;
export const SANDBOX_ID_COUNT = 65536;

export const toHostId = (id: number): number => SANDBOX_ID_BASE + (id % SANDBOX_ID_COUNT);
