import { HangarError } from '../../../lib/errors.js';
import { STOP_REASONS, type Instance } from '../../instance.js';
import type { RunContext } from './context.js';

export interface StopOptions {
  force: boolean;
  drainTimeoutMs: number;
  /** stop_reason to record; by default a user's (forced) stop. */
  reason?: number;
}

/**
 * Asks a live instance to stop and returns at once (the API's stop does not
 * block); the exit watcher records the outcome. Caller holds the lock.
 */
export async function stop(ctx: RunContext, uuid: string, opts: StopOptions): Promise<Instance> {
  const { d } = ctx;
  let inst = await ctx.fresh(uuid);
  if (!inst) throw new HangarError('not_found', `instance ${uuid} not found`);
  ctx.cancelRestart(uuid);
  if (inst.state === 'stopped') {
    if (inst.restart?.nextAt) inst = await ctx.save({ ...inst, restart: undefined });
    return inst;
  }
  if (inst.state === 'stopping' || inst.state === 'draining') return inst;
  const reason = opts.reason ?? (opts.force ? STOP_REASONS.userForcedStop : STOP_REASONS.userStop);
  const run = ctx.live.get(uuid) ?? { startedMonoUs: d.clock.monoUs() };
  run.stopReason = reason;
  ctx.live.set(uuid, run);
  if (inst.state === 'standby') {
    inst = await ctx.move(inst, 'stop');
    const driver = ctx.driverFor(inst);
    await driver.freezer?.resume(uuid).catch(() => undefined);
    await driver.kill(uuid, 'SIGKILL').catch(() => undefined);
    return inst;
  }
  const drain = !opts.force && opts.drainTimeoutMs > 0;
  inst = drain ? await ctx.move(inst, 'drain') : await ctx.move(inst, 'stop');
  void finishStop(ctx, inst, opts.force, drain ? opts.drainTimeoutMs : 0);
  return inst;
}

/** Drain, then SIGTERM and SIGKILL after the grace period (or SIGKILL at once when forced). */
async function finishStop(ctx: RunContext, inst: Instance, force: boolean, drainMs: number): Promise<void> {
  const { d } = ctx;
  const uuid = inst.uuid;
  const driver = ctx.driverFor(inst);
  try {
    if (drainMs > 0) {
      await d.clock.sleep(drainMs);
      if (ctx.closed) return; // the node stopped during the drain: the store is closing, the sandbox keeps running
      await ctx.track(
        ctx.locked(uuid, async () => {
          const cur = await ctx.fresh(uuid);
          if (cur?.state === 'draining') await ctx.move(cur, 'stop');
        }),
      );
    }
    if (!ctx.live.has(uuid)) return;
    await driver.kill(uuid, force ? 'SIGKILL' : 'SIGTERM');
    if (force) return;
    await Promise.race([driver.waitExit(uuid), d.clock.sleep(d.stopGraceMs)]);
    if (ctx.live.has(uuid)) await driver.kill(uuid, 'SIGKILL');
  } catch (e) {
    d.logger.debug({ uuid, err: String(e) }, 'stop signal not delivered (already gone?)');
  }
}
