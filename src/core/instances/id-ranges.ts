import { HangarError } from '../../lib/errors.js';
import { MAX_ID_RANGES } from '../../lib/idmap.js';
import type { Instance } from '../instance.js';

/**
 * The lowest `n` uid ranges (1..MAX_ID_RANGES) no instance of the node holds.
 * Called inside the create's unit of work, so two creates never take the same
 * one; a range is free again once its instance's record is deleted.
 */
export function allocateIdRanges(nodeInstances: readonly Instance[], n: number): number[] {
  const taken = new Set(nodeInstances.map((i) => i.idRange));
  const out: number[] = [];
  for (let k = 1; k <= MAX_ID_RANGES && out.length < n; k++) if (!taken.has(k)) out.push(k);
  if (out.length < n) throw new HangarError('unavailable', `node full: uid ranges (all ${MAX_ID_RANGES} in use)`);
  return out;
}
