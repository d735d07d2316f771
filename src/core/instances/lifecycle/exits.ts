import { stopReasonForExit, signalNumber, type Instance } from '../../instance.js';
import type { SandboxExit } from '../../ports/runtime.js';
import { shouldRestart } from '../../restart.js';
import type { RunContext } from './context.js';
import { destroy } from './destroy.js';
import { scheduleRestart } from './restarts.js';

/** Handles the end of `inst`'s sandbox whenever it comes. */
export function watchExit(ctx: RunContext, inst: Instance): void {
  const uuid = inst.uuid;
  ctx.driverFor(inst).waitExit(uuid).then(
    // An exit seen after the node began to stop is left to the next node's reconcile (the store is closing); one seen
    // before is tracked, so the stop waits for its record.
    (exit) => (ctx.closed ? undefined : ctx.track(ctx.locked(uuid, () => onExit(ctx, uuid, exit)))),
    (e: unknown) => ctx.d.logger.warn({ uuid, err: String(e) }, 'lost track of sandbox'),
  ).catch((e: unknown) => ctx.d.logger.error({ uuid, err: String(e) }, 'exit handling failed'));
}

/** The app ended: record why, free the sandbox, then restart or delete per policy. */
async function onExit(ctx: RunContext, uuid: string, exit: SandboxExit): Promise<void> {
  const { d } = ctx;
  const run = ctx.live.get(uuid);
  ctx.live.delete(uuid);
  if (run?.deleting) return;
  let inst = await ctx.fresh(uuid);
  // Deleted meanwhile: destroy() already removed the sandbox and everything else.
  if (!inst) return;
  await ctx.driverFor(inst).remove(uuid).catch((e: unknown) => d.logger.warn({ uuid, err: String(e) }, 'sandbox cleanup failed'));
  // A stop that began meanwhile waits for this record (drain), but nothing restarts or deletes behind it.
  const requested = run?.stopReason !== undefined;
  const stopReason = stopReasonForExit(exit, run?.stopReason);
  const now = d.clock.now();
  const ranMs = ctx.ranMs(inst, now);
  const patch: Partial<Instance> = {
    stopReason,
    exitCode: exit.exitCode ?? undefined,
    stopCode: exit.signal ? signalNumber(exit.signal) : undefined,
    stoppedAt: now.toISOString(),
    uptimeMs: inst.uptimeMs + ranMs,
  };
  // running and draining pass through stopping, so they take two steps.
  if (inst.state === 'running' || inst.state === 'draining') inst = await ctx.move(inst, 'exited', patch);
  if (inst.state === 'stopping' || inst.state === 'starting') inst = await ctx.move(inst, 'exited', patch);
  d.logger.info({ uuid, exit, stopReason }, 'instance stopped');
  if (ctx.closed) return;
  if (inst.features.includes('delete-on-stop')) {
    await destroy(ctx, inst);
    return;
  }
  if (shouldRestart(inst.restartPolicy, { ...exit, requested })) await scheduleRestart(ctx, inst, ranMs);
}
