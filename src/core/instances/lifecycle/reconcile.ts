import { newUuid } from '../../../lib/ids.js';
import { isLive, STOP_REASONS, stopReasonForExit, type Instance } from '../../instance.js';
import type { RuntimeDriver, SandboxInfo } from '../../ports/runtime.js';
import { shouldRestart } from '../../restart.js';
import type { RunContext } from './context.js';
import { destroy } from './destroy.js';
import { watchExit } from './exits.js';
import { scheduleRestart } from './restarts.js';

export interface ReconcileResult {
  /** Records without a node that this node took over. */
  claimed: number;
  adopted: number;
  stopped: number;
  orphans: number;
}

/**
 * After a node restart: take over records written before instances had a
 * node, adopt this node's sandboxes that are still running, record truthfully
 * the ones that ended while the node was down, and remove every sandbox and
 * network attachment on the host that no stored instance owns. Other nodes'
 * instances are left alone.
 */
export async function reconcile(ctx: RunContext): Promise<ReconcileResult> {
  const { d } = ctx;
  const claimed = await d.store.adoptUnowned(d.nodeId);
  const mine = await d.store.nodeInstances(d.nodeId);
  const known = new Set((await d.store.allInstances()).map((i) => i.uuid));
  const sandboxes = new Map<string, { sb: SandboxInfo; driver: RuntimeDriver }>();
  for (const driver of ctx.drivers()) for (const sb of await driver.list()) sandboxes.set(sb.id, { sb, driver });
  let adopted = 0;
  let stopped = 0;
  for (const stored of mine) {
    const found = sandboxes.get(stored.uuid);
    const wantsSandbox = isLive(stored.state);
    const adoptable = found !== undefined && found.sb.state !== 'stopped' && wantsSandbox;
    const inst = adoptable ? await recoverNetwork(ctx, stored) : stored;
    // A start cut short before its network was recorded: nothing will use that netns (a next start attaches anew).
    if (!adoptable && !stored.network) await d.network.detach(stored.uuid).catch((e: unknown) => d.logger.warn({ id: stored.uuid, err: String(e) }, 'unrecorded network removal failed'));
    if (inst.network) d.network.setName(inst.name, inst.network.ip);
    if (found && adoptable) {
      adopted++;
      await adopt(ctx, inst, found.sb);
      continue;
    }
    if (found) await found.driver.remove(inst.uuid).catch(() => undefined);
    if (wantsSandbox) {
      stopped++;
      await recordEnded(ctx, inst, found?.sb);
    } else if (inst.restart?.nextAt && inst.state === 'stopped' && inst.restartPolicy !== 'never') {
      await scheduleRestart(ctx, inst, 0);
    }
  }
  let orphans = 0;
  for (const [id, { driver }] of sandboxes) {
    if (!known.has(id)) {
      orphans++;
      await driver.remove(id).catch((e: unknown) => d.logger.warn({ id, err: String(e) }, 'orphan sandbox removal failed'));
    }
  }
  for (const id of await d.network.list()) {
    if (!known.has(id)) {
      orphans++;
      await d.network.detach(id).catch((e: unknown) => d.logger.warn({ id, err: String(e) }, 'orphan network removal failed'));
    }
  }
  return { claimed, adopted, stopped, orphans };
}

/** A crash between attach and the 'started' save leaves a live sandbox with no network in its record: the host has the truth. */
async function recoverNetwork(ctx: RunContext, inst: Instance): Promise<Instance> {
  const net = await ctx.d.network.recover(inst.uuid, inst.hostname, inst.owner).catch((e: unknown) => ctx.d.logger.warn({ id: inst.uuid, err: String(e) }, 'reading the network of an adopted sandbox failed'));
  if (!net || (inst.network?.ip === net.ip && inst.network.mac === net.mac)) return inst;
  return ctx.save({ ...inst, network: { interfaceUuid: inst.network?.interfaceUuid ?? newUuid(), ip: net.ip, mac: net.mac } });
}

/** The sandbox outlived the node: track it again, and finish what was under way when the node went down. */
async function adopt(ctx: RunContext, inst: Instance, sb: SandboxInfo): Promise<void> {
  const { d } = ctx;
  ctx.live.set(inst.uuid, { startedMonoUs: d.clock.monoUs() });
  if (sb.state === 'paused' && inst.state !== 'standby') await ctx.save({ ...inst, state: 'standby' });
  else if (sb.state === 'running' && inst.state === 'standby') await ctx.save({ ...inst, state: 'running' });
  else if (inst.state === 'starting') await ctx.save({ ...inst, state: 'running' });
  else if (inst.state === 'stopping' || inst.state === 'draining') {
    ctx.live.set(inst.uuid, { startedMonoUs: d.clock.monoUs(), stopReason: STOP_REASONS.userStop });
    void ctx.driverFor(inst).kill(inst.uuid, 'SIGKILL').catch(() => undefined);
  }
  watchExit(ctx, inst);
}

/** The sandbox ended (or vanished) while the node was down: record it as stopped, then delete or restart per policy. */
async function recordEnded(ctx: RunContext, inst: Instance, sb: SandboxInfo | undefined): Promise<void> {
  const exit = sb?.exit;
  const endedByItself = exit !== undefined && inst.state === 'running';
  const reason = endedByItself ? stopReasonForExit(exit) : STOP_REASONS.platformStop;
  const next = await ctx.save({
    ...inst,
    state: 'stopped',
    stopReason: reason,
    exitCode: exit?.exitCode ?? undefined,
    stoppedAt: (exit?.at ?? ctx.d.clock.now()).toISOString(),
  });
  if (next.features.includes('delete-on-stop')) await destroy(ctx, next);
  else if (shouldRestart(next.restartPolicy, { exitCode: exit?.exitCode ?? null, signal: exit?.signal ?? null, oomKilled: exit?.oomKilled ?? false, requested: !endedByItself && inst.state !== 'running' })) {
    await scheduleRestart(ctx, next, 0);
  }
}
