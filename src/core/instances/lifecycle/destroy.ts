import type { Instance, InstanceState } from '../../instance.js';
import type { RunContext } from './context.js';

/** Removes the instance and everything it holds. Caller holds the lock. Returns the state it had. */
export async function destroy(ctx: RunContext, inst: Instance): Promise<InstanceState> {
  const { d } = ctx;
  const uuid = inst.uuid;
  ctx.cancelRestart(uuid);
  const run = ctx.live.get(uuid);
  if (run) run.deleting = true;
  else ctx.live.set(uuid, { startedMonoUs: 0, deleting: true });
  await ctx.driverFor(inst).remove(uuid);
  await d.network.detach(uuid);
  d.network.removeName(inst.name);
  await d.logs.remove(uuid);
  await d.store.deleteInstance(uuid);
  // After the record: a ROM's bytes go once no instance names them.
  if (inst.roms && inst.roms.length > 0) await d.roms?.forget(inst.roms.map((r) => r.digest)).catch((e: unknown) => d.logger.warn({ uuid, err: String(e) }, 'removing unused ROM bytes failed'));
  ctx.live.delete(uuid);
  ctx.waiters.notify(uuid, undefined);
  return inst.state;
}
