import type { Instance } from '../../instance.js';
import { nextAttempt, restartDelayMs } from '../../restart.js';
import type { RunContext } from './context.js';

/** Records the next attempt of the restart policy and starts the instance again when its back-off ends. */
export async function scheduleRestart(ctx: RunContext, inst: Instance, ranMs: number): Promise<void> {
  const { d } = ctx;
  const uuid = inst.uuid;
  const attempt = nextAttempt(inst.restart?.attempt, ranMs);
  const delay = restartDelayMs(attempt);
  const nextAt = new Date(d.clock.now().getTime() + delay).toISOString();
  await ctx.save({ ...inst, restart: { attempt, nextAt } });
  ctx.cancelRestart(uuid);
  const timer = d.clock.setTimer(delay, () => {
    ctx.restartTimers.delete(uuid);
    void ctx.locked(uuid, async () => {
      const cur = await ctx.fresh(uuid);
      if (!cur || cur.state !== 'stopped' || ctx.closed) return;
      try {
        await ctx.restartNow(uuid);
      } catch (e) {
        // A failed restart is retried with the next back-off step, as a crash would be.
        d.logger.warn({ uuid, err: String(e) }, 'restart failed; retrying with back-off');
        const after = await ctx.fresh(uuid);
        if (after && after.state === 'stopped' && !ctx.closed) await scheduleRestart(ctx, after, 0);
      }
    }).catch((e: unknown) => d.logger.warn({ uuid, err: String(e) }, 'restart failed'));
  });
  timer.unref();
  ctx.restartTimers.set(uuid, timer);
}
