import { asHangarError, HangarError } from '../../../lib/errors.js';
import { STOP_REASONS, type Instance } from '../../instance.js';
import { freezerOf } from '../../ports/runtime.js';
import type { RunContext } from './context.js';

/** running → stopping → standby; memory stays, processes frozen. Caller holds the lock. */
export async function suspend(ctx: RunContext, uuid: string): Promise<Instance> {
  let inst = await ctx.fresh(uuid);
  if (!inst) throw new HangarError('not_found', `instance ${uuid} not found`);
  if (inst.state === 'standby') return inst;
  const freezer = freezerOf(ctx.driverFor(inst));
  inst = await ctx.move(inst, 'suspend');
  try {
    await freezer.pause(uuid);
  } catch (e) {
    await ctx.move(inst, 'exited');
    throw asHangarError(e, 'unavailable');
  }
  const now = ctx.d.clock.now();
  return ctx.move(inst, 'suspended', { stopReason: STOP_REASONS.suspend, stoppedAt: now.toISOString(), uptimeMs: inst.uptimeMs + ctx.ranMs(inst, now) });
}
