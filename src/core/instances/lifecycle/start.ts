import { asHangarError, HangarError } from '../../../lib/errors.js';
import { newUuid } from '../../../lib/ids.js';
import { STOP_REASONS, type Instance } from '../../instance.js';
import { freezerOf, type RuntimeDriver } from '../../ports/runtime.js';
import { sandboxSpecFor } from '../sandbox-spec.js';
import type { InstanceRom } from '../../instance.js';
import type { RunContext } from './context.js';
import { watchExit } from './exits.js';

/** How long readiness is polled for `net_time_us` before giving up. */
const READINESS_WINDOW_US = 120_000_000;

/** Starts a stopped instance or wakes a standby one. Caller holds the lock. */
export async function start(ctx: RunContext, uuid: string, opts: { restart?: boolean } = {}): Promise<Instance> {
  let inst = await ctx.fresh(uuid);
  if (!inst) throw new HangarError('not_found', `instance ${uuid} not found`);
  ctx.cancelRestart(uuid);
  if (inst.state === 'running' || inst.state === 'starting') return inst;
  const t0 = ctx.d.clock.monoUs();
  if (inst.state === 'standby') {
    inst = await ctx.move(inst, 'start');
    const driver = ctx.driverFor(inst);
    try {
      await freezerOf(driver).resume(uuid);
    } catch (e) {
      ctx.d.logger.warn({ uuid, err: String(e) }, 'resume failed; cold-starting instead');
      await driver.remove(uuid).catch(() => undefined);
      ctx.live.delete(uuid);
      return coldStart(ctx, inst, t0, opts.restart ?? false);
    }
    ctx.live.set(uuid, { startedMonoUs: t0 });
    return ctx.move(inst, 'started', { startedAt: ctx.d.clock.now().toISOString(), startCount: inst.startCount + 1 });
  }
  // A standby instance is live already; a cold start is admitted against quotas and the node's capacity.
  inst = await ctx.moveAdmitted(inst, 'start');
  return coldStart(ctx, inst, t0, opts.restart ?? false);
}

async function coldStart(ctx: RunContext, inst: Instance, t0: number, isRestart: boolean): Promise<Instance> {
  const { d } = ctx;
  const uuid = inst.uuid;
  let driver: RuntimeDriver | undefined;
  let pid: number;
  let netInfo: Instance['network'];
  try {
    driver = ctx.driverFor(inst); // inside the try: an unknown driver name is a failed start, not a stuck 'starting'
    const image = await d.images.resolve(inst.image);
    image.settle?.(); // the instance's record names it already
    const roms = await romPaths(ctx, inst.roms ?? []);
    const net = await d.network.attach(uuid, inst.hostname, inst.owner);
    netInfo = { interfaceUuid: inst.network?.interfaceUuid ?? newUuid(), ip: net.ip, mac: net.mac };
    ({ pid } = await driver.start(sandboxSpecFor(inst, image, net, d.logs.pathFor(uuid), roms)));
    d.network.setName(inst.name, net.ip);
  } catch (e) {
    const err = asHangarError(e, 'unavailable');
    d.logger.warn({ uuid, err: err.message }, 'start failed');
    await driver?.remove(uuid).catch(() => undefined);
    const cur = await ctx.fresh(uuid);
    if (cur && cur.state === 'starting') await ctx.move(cur, 'start_failed', { stopReason: STOP_REASONS.platformStop });
    throw err;
  }
  const bootTimeUs = d.clock.monoUs() - t0;
  ctx.live.set(uuid, { startedMonoUs: t0 });
  const cur = (await ctx.fresh(uuid)) ?? inst;
  const running = await ctx.move(cur, 'started', {
    startedAt: d.clock.now().toISOString(),
    startCount: cur.startCount + 1,
    restartCount: cur.restartCount + (isRestart ? 1 : 0),
    bootTimeUs,
    network: netInfo,
    // Recorded so a later change of the node's default driver still finds this sandbox.
    driver: driver.name,
    stopReason: undefined,
    exitCode: undefined,
    stopCode: undefined,
  });
  d.logger.debug({ uuid, pid, bootTimeUs }, 'instance running');
  watchReadiness(ctx, running, t0);
  watchExit(ctx, running);
  return running;
}

/** The host file of each ROM, read at every start: a PATCH while stopped takes effect at the next one. */
async function romPaths(ctx: RunContext, roms: readonly InstanceRom[]): Promise<Array<{ rom: InstanceRom; path: string }>> {
  if (roms.length === 0) return [];
  const store = ctx.d.roms;
  if (!store) throw new HangarError('failed_precondition', 'the instance has ROMs and this node does not support them');
  return Promise.all(roms.map(async (rom) => ({ rom, path: await store.pathFor(rom) })));
}

/** Polls the driver's readiness probe (the app's first listening socket or accepted connection) to fill in `net_time_us`. */
function watchReadiness(ctx: RunContext, inst: Instance, t0: number): void {
  const { d } = ctx;
  const uuid = inst.uuid;
  const driver = ctx.driverFor(inst);
  const deadline = t0 + READINESS_WINDOW_US;
  let delay = 1;
  const tick = async (): Promise<void> => {
    const run = ctx.live.get(uuid);
    if (!run || run.startedMonoUs !== t0 || ctx.closed) return;
    let up = false;
    try {
      up = await driver.readiness.ready({ id: uuid, ...(inst.network ? { ip: inst.network.ip } : {}), ports: [] });
    } catch {
      return; // sandbox gone; the exit watcher reports why
    }
    const now = d.clock.monoUs();
    if (up) {
      // Under the lock: a stop or exit may be rewriting the record meanwhile.
      await ctx.locked(uuid, async () => {
        const cur = await ctx.fresh(uuid);
        if (cur && cur.netTimeUs === undefined && ctx.live.get(uuid)?.startedMonoUs === t0) await ctx.save({ ...cur, netTimeUs: now - t0 });
      });
      return;
    }
    if (now > deadline) return;
    delay = Math.min(delay * 1.5, 100);
    d.clock.setTimer(delay, () => void tick().catch(() => undefined)).unref();
  };
  void tick().catch(() => undefined);
}
