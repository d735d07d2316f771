import { asHangarError, HangarError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { newUuid } from '../../lib/ids.js';
import { STOP_REASONS, type Instance, type InstanceState } from '../instance.js';
import type { Clock } from '../ports/clock.js';
import type { ImageStore } from '../ports/images.js';
import type { LogStore } from '../ports/logs.js';
import type { NetworkDriver } from '../ports/network.js';
import { freezerOf, type ProbeTarget, type RuntimeDriver, type RuntimeRegistry, type SandboxExit } from '../ports/runtime.js';
import type { InstanceStore } from '../ports/store.js';
import { nextAttempt, restartDelayMs, shouldRestart } from '../restart.js';
import { transition, type InstanceEvent } from '../state-machine.js';
import { KeyedMutex } from '../../lib/mutex.js';
import { sandboxSpecFor } from './sandbox-spec.js';
import { StateWaiters } from './waiters.js';

export interface LifecycleDeps {
  store: InstanceStore;
  runtimes: RuntimeRegistry;
  network: NetworkDriver;
  images: ImageStore;
  logs: LogStore;
  clock: Clock;
  logger: Logger;
  /** How long a graceful stop waits after SIGTERM before SIGKILL. */
  stopGraceMs: number;
}

/** What the node knows about a sandbox it is running right now (memory only). */
interface LiveRun {
  startedMonoUs: number;
  /** Set when a user or the platform asked for the stop: its stop_reason, and that it must not restart. */
  stopReason?: number;
  deleting?: boolean;
}

/**
 * The mechanics of running instances: start, stop, suspend, exits, restart
 * policies, delete, and adopting sandboxes after a node restart. All state
 * changes go through the state machine and are persisted before waiters hear.
 */
export class Lifecycle {
  readonly waiters = new StateWaiters();
  private readonly mutex = new KeyedMutex();
  private readonly live = new Map<string, LiveRun>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly d: LifecycleDeps) {}

  locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(uuid, fn);
  }

  /** Applies a state-machine event, persists, and tells waiters. */
  private move(inst: Instance, event: InstanceEvent, patch: Partial<Instance> = {}): Instance {
    const next: Instance = { ...inst, ...patch, state: transition(inst.state, event) };
    this.d.store.updateInstance(next);
    this.waiters.notify(next.uuid, next);
    return next;
  }

  private save(inst: Instance): Instance {
    this.d.store.updateInstance(inst);
    this.waiters.notify(inst.uuid, inst);
    return inst;
  }

  private fresh(uuid: string): Instance | undefined {
    return this.d.store.getInstance(uuid);
  }

  private rt = (inst: Pick<Instance, 'driver'>): RuntimeDriver => this.d.runtimes.get(inst.driver);

  /** Starts a stopped instance or wakes a standby one. Caller holds the lock. */
  async start(uuid: string, opts: { restart?: boolean } = {}): Promise<Instance> {
    let inst = this.fresh(uuid);
    if (!inst) throw new HangarError('not_found', `instance ${uuid} not found`);
    this.cancelRestart(uuid);
    if (inst.state === 'running' || inst.state === 'starting') return inst;
    const t0 = this.d.clock.monoUs();
    if (inst.state === 'standby') {
      inst = this.move(inst, 'start');
      try {
        await freezerOf(this.rt(inst)).resume(uuid);
      } catch (e) {
        this.d.logger.warn({ uuid, err: String(e) }, 'resume failed; cold-starting instead');
        await this.rt(inst).remove(uuid).catch(() => undefined);
        this.live.delete(uuid);
        return this.coldStart(inst, t0, opts.restart ?? false);
      }
      this.live.set(uuid, { startedMonoUs: t0 });
      return this.move(inst, 'started', { startedAt: this.d.clock.now().toISOString(), startCount: inst.startCount + 1 });
    }
    inst = this.move(inst, 'start');
    return this.coldStart(inst, t0, opts.restart ?? false);
  }

  private async coldStart(inst: Instance, t0: number, isRestart: boolean): Promise<Instance> {
    const uuid = inst.uuid;
    let pid: number;
    let netInfo: Instance['network'];
    let rt: RuntimeDriver | undefined;
    try {
      rt = this.rt(inst);
      const image = await this.d.images.resolve(inst.image);
      const net = await this.d.network.attach(uuid, inst.hostname);
      netInfo = { interfaceUuid: inst.network?.interfaceUuid ?? newUuid(), ip: net.ip, mac: net.mac };
      ({ pid } = await rt.start(sandboxSpecFor(inst, image, net, this.d.logs.pathFor(uuid))));
      this.d.network.setName(inst.name, net.ip);
    } catch (e) {
      const err = asHangarError(e, 'unavailable');
      this.d.logger.warn({ uuid, err: err.message }, 'start failed');
      await rt?.remove(uuid).catch(() => undefined);
      const cur = this.fresh(uuid);
      if (cur && cur.state === 'starting') this.move(cur, 'start_failed', { stopReason: STOP_REASONS.platformStop });
      throw err;
    }
    const bootTimeUs = this.d.clock.monoUs() - t0;
    this.live.set(uuid, { startedMonoUs: t0 });
    const cur = this.fresh(uuid) ?? inst;
    const running = this.move(cur, 'started', {
      startedAt: this.d.clock.now().toISOString(),
      startCount: cur.startCount + 1,
      restartCount: cur.restartCount + (isRestart ? 1 : 0),
      bootTimeUs,
      network: netInfo,
      stopReason: undefined,
      exitCode: undefined,
      stopCode: undefined,
    });
    this.d.logger.debug({ uuid, pid, bootTimeUs }, 'instance running');
    this.watchListen(uuid, t0, rt, { id: uuid, ip: netInfo.ip, ports: [] });
    this.watchExit(uuid, rt);
    return running;
  }

  /** Polls for the app's first listening socket to fill in `net_time_us`. */
  private watchListen(uuid: string, t0: number, rt: RuntimeDriver, target: ProbeTarget): void {
    const deadline = t0 + 120_000_000;
    let delay = 1;
    const tick = async (): Promise<void> => {
      const run = this.live.get(uuid);
      if (!run || run.startedMonoUs !== t0 || this.closed) return;
      let up = false;
      try {
        up = await rt.readiness.ready(target);
      } catch {
        return; // sandbox gone; the exit watcher reports why
      }
      const now = this.d.clock.monoUs();
      if (up) {
        const inst = this.fresh(uuid);
        if (inst && inst.netTimeUs === undefined && this.live.get(uuid)?.startedMonoUs === t0) this.save({ ...inst, netTimeUs: now - t0 });
        return;
      }
      if (now > deadline) return;
      delay = Math.min(delay * 1.5, 100);
      setTimeout(() => void tick(), delay).unref();
    };
    void tick();
  }

  private watchExit(uuid: string, rt: RuntimeDriver): void {
    rt.waitExit(uuid).then(
      (exit) => this.locked(uuid, () => this.onExit(uuid, exit, rt)),
      (e: unknown) => this.d.logger.warn({ uuid, err: String(e) }, 'lost track of sandbox'),
    ).catch((e: unknown) => this.d.logger.error({ uuid, err: String(e) }, 'exit handling failed'));
  }

  /** The app ended: record why, free the sandbox, then restart or delete per policy. */
  private async onExit(uuid: string, exit: SandboxExit, rt: RuntimeDriver): Promise<void> {
    const run = this.live.get(uuid);
    this.live.delete(uuid);
    if (run?.deleting) return;
    let inst = this.fresh(uuid);
    // Deleted meanwhile: destroy() already removed the sandbox and everything else.
    if (!inst) return;
    await rt.remove(uuid).catch((e: unknown) => this.d.logger.warn({ uuid, err: String(e) }, 'sandbox cleanup failed'));
    if (this.closed) return;
    const requested = run?.stopReason !== undefined;
    const stopReason = run?.stopReason ?? (exit.oomKilled ? STOP_REASONS.outOfMemory : exit.signal ? STOP_REASONS.crash : STOP_REASONS.appExit);
    const now = this.d.clock.now();
    const ranMs = inst.startedAt ? Math.max(0, now.getTime() - Date.parse(inst.startedAt)) : 0;
    const patch: Partial<Instance> = {
      stopReason,
      exitCode: exit.exitCode ?? undefined,
      stopCode: exit.signal ? signalNumber(exit.signal) : undefined,
      stoppedAt: now.toISOString(),
      uptimeMs: inst.uptimeMs + ranMs,
    };
    if (inst.state === 'running' || inst.state === 'draining') inst = this.move(inst, 'exited', patch);
    if (inst.state === 'stopping' || inst.state === 'starting') inst = this.move(inst, 'exited', patch);
    this.d.logger.info({ uuid, exit, stopReason }, 'instance stopped');
    if (inst.features.includes('delete-on-stop')) {
      await this.destroy(inst);
      return;
    }
    if (shouldRestart(inst.restartPolicy, { ...exit, requested })) this.scheduleRestart(inst, ranMs);
  }

  private scheduleRestart(inst: Instance, ranMs: number): void {
    const attempt = nextAttempt(inst.restart?.attempt, ranMs);
    const delay = restartDelayMs(attempt);
    const nextAt = new Date(this.d.clock.now().getTime() + delay).toISOString();
    this.save({ ...inst, restart: { attempt, nextAt } });
    const timer = setTimeout(() => {
      this.restartTimers.delete(inst.uuid);
      void this.locked(inst.uuid, async () => {
        const cur = this.fresh(inst.uuid);
        if (!cur || cur.state !== 'stopped' || this.closed) return;
        try {
          await this.start(inst.uuid, { restart: true });
        } catch (e) {
          // A failed restart is retried with the next back-off step, as a crash would be.
          this.d.logger.warn({ uuid: inst.uuid, err: String(e) }, 'restart failed; retrying with back-off');
          const after = this.fresh(inst.uuid);
          if (after && after.state === 'stopped' && !this.closed) this.scheduleRestart(after, 0);
        }
      }).catch((e: unknown) => this.d.logger.warn({ uuid: inst.uuid, err: String(e) }, 'restart failed'));
    }, delay);
    timer.unref();
    this.restartTimers.set(inst.uuid, timer);
  }

  private cancelRestart(uuid: string): void {
    const t = this.restartTimers.get(uuid);
    if (t) clearTimeout(t);
    this.restartTimers.delete(uuid);
  }

  /**
   * Asks a live instance to stop and returns at once (the API's stop does not
   * block); the exit watcher records the outcome. Caller holds the lock.
   */
  async stop(uuid: string, opts: { force: boolean; drainTimeoutMs: number; reason?: number }): Promise<Instance> {
    let inst = this.fresh(uuid);
    if (!inst) throw new HangarError('not_found', `instance ${uuid} not found`);
    this.cancelRestart(uuid);
    if (inst.state === 'stopped') {
      if (inst.restart?.nextAt) inst = this.save({ ...inst, restart: undefined });
      return inst;
    }
    if (inst.state === 'stopping' || inst.state === 'draining') return inst;
    const reason = opts.reason ?? (opts.force ? STOP_REASONS.userForcedStop : STOP_REASONS.userStop);
    const run = this.live.get(uuid) ?? { startedMonoUs: this.d.clock.monoUs() };
    run.stopReason = reason;
    this.live.set(uuid, run);
    if (inst.state === 'standby') {
      inst = this.move(inst, 'stop');
      await this.rt(inst).freezer?.resume(uuid).catch(() => undefined);
      await this.rt(inst).kill(uuid, 'SIGKILL').catch(() => undefined);
      return inst;
    }
    const drain = !opts.force && opts.drainTimeoutMs > 0;
    inst = drain ? this.move(inst, 'drain') : this.move(inst, 'stop');
    void this.finishStop(uuid, this.rt(inst), opts.force, drain ? opts.drainTimeoutMs : 0);
    return inst;
  }

  private async finishStop(uuid: string, rt: RuntimeDriver, force: boolean, drainMs: number): Promise<void> {
    try {
      if (drainMs > 0) {
        await sleep(drainMs);
        await this.locked(uuid, async () => {
          const cur = this.fresh(uuid);
          if (cur?.state === 'draining') this.move(cur, 'stop');
        });
      }
      if (!this.live.has(uuid)) return;
      await rt.kill(uuid, force ? 'SIGKILL' : 'SIGTERM');
      if (force) return;
      await Promise.race([rt.waitExit(uuid), sleep(this.d.stopGraceMs)]);
      if (this.live.has(uuid)) await rt.kill(uuid, 'SIGKILL');
    } catch (e) {
      this.d.logger.debug({ uuid, err: String(e) }, 'stop signal not delivered (already gone?)');
    }
  }

  /** running → stopping → standby; memory stays, processes frozen. Caller holds the lock. */
  async suspend(uuid: string): Promise<Instance> {
    let inst = this.fresh(uuid);
    if (!inst) throw new HangarError('not_found', `instance ${uuid} not found`);
    if (inst.state === 'standby') return inst;
    const freezer = freezerOf(this.rt(inst));
    inst = this.move(inst, 'suspend');
    try {
      await freezer.pause(uuid);
    } catch (e) {
      this.move(inst, 'exited');
      throw asHangarError(e, 'unavailable');
    }
    const now = this.d.clock.now();
    const ranMs = inst.startedAt ? Math.max(0, now.getTime() - Date.parse(inst.startedAt)) : 0;
    return this.move(inst, 'suspended', { stopReason: STOP_REASONS.suspend, stoppedAt: now.toISOString(), uptimeMs: inst.uptimeMs + ranMs });
  }

  /** Removes the instance and everything it holds. Caller holds the lock. Returns the state it had. */
  async destroy(inst: Instance): Promise<InstanceState> {
    const uuid = inst.uuid;
    this.cancelRestart(uuid);
    const run = this.live.get(uuid);
    if (run) run.deleting = true;
    else this.live.set(uuid, { startedMonoUs: 0, deleting: true });
    await this.rt(inst).remove(uuid);
    await this.d.network.detach(uuid);
    this.d.network.removeName(inst.name);
    await this.d.logs.remove(uuid);
    this.d.store.deleteInstance(uuid);
    this.live.delete(uuid);
    this.waiters.notify(uuid, undefined);
    return inst.state;
  }

  /** Current uptime including the run in progress. */
  uptimeMs(inst: Instance): number {
    if (inst.state !== 'running' && inst.state !== 'draining' && inst.state !== 'stopping') return inst.uptimeMs;
    const started = inst.startedAt ? Date.parse(inst.startedAt) : Date.now();
    return inst.uptimeMs + Math.max(0, this.d.clock.now().getTime() - started);
  }

  /**
   * After a node restart: adopt sandboxes that are still running, record
   * truthfully the ones that ended while the node was down, and remove every
   * sandbox and network attachment no instance owns.
   */
  async reconcile(all: Instance[]): Promise<{ adopted: number; stopped: number; orphans: number }> {
    const listed = await Promise.all(this.d.runtimes.all().map(async (rt) => (await rt.list()).map((sb) => ({ sb, rt }))));
    const sandboxes = new Map(listed.flat().map((l) => [l.sb.id, l]));
    const known = new Set(all.map((i) => i.uuid));
    let adopted = 0;
    let stopped = 0;
    let orphans = 0;
    for (const inst of all) {
      const found = sandboxes.get(inst.uuid);
      if (inst.network) this.d.network.setName(inst.name, inst.network.ip);
      const wantsSandbox = inst.state === 'running' || inst.state === 'starting' || inst.state === 'draining' || inst.state === 'stopping' || inst.state === 'standby';
      if (found && found.sb.state !== 'stopped' && wantsSandbox) {
        adopted++;
        this.live.set(inst.uuid, { startedMonoUs: this.d.clock.monoUs() });
        if (found.sb.state === 'paused' && inst.state !== 'standby') this.save({ ...inst, state: 'standby' });
        else if (found.sb.state === 'running' && inst.state === 'standby') this.save({ ...inst, state: 'running' });
        else if (inst.state === 'starting') this.save({ ...inst, state: 'running' });
        else if (inst.state === 'stopping' || inst.state === 'draining') {
          this.live.set(inst.uuid, { startedMonoUs: this.d.clock.monoUs(), stopReason: STOP_REASONS.userStop });
          void found.rt.kill(inst.uuid, 'SIGKILL').catch(() => undefined);
        }
        this.watchExit(inst.uuid, found.rt);
        continue;
      }
      if (found) await found.rt.remove(inst.uuid).catch(() => undefined);
      if (wantsSandbox) {
        stopped++;
        const exit = found?.sb.exit;
        const endedByItself = exit !== undefined && (inst.state === 'running');
        const reason = endedByItself ? (exit.oomKilled ? STOP_REASONS.outOfMemory : exit.signal ? STOP_REASONS.crash : STOP_REASONS.appExit) : STOP_REASONS.platformStop;
        const now = this.d.clock.now();
        const next = this.save({
          ...inst,
          state: 'stopped',
          stopReason: reason,
          exitCode: exit?.exitCode ?? undefined,
          stoppedAt: (exit?.at ?? now).toISOString(),
        });
        if (next.features.includes('delete-on-stop')) await this.destroy(next);
        else if (shouldRestart(next.restartPolicy, { exitCode: exit?.exitCode ?? null, signal: exit?.signal ?? null, oomKilled: exit?.oomKilled ?? false, requested: !endedByItself && inst.state !== 'running' })) {
          this.scheduleRestart(next, 0);
        }
      } else if (inst.restart?.nextAt && inst.state === 'stopped' && inst.restartPolicy !== 'never') {
        this.scheduleRestart(inst, 0);
      }
    }
    for (const [id, { rt }] of sandboxes) {
      if (!known.has(id)) {
        orphans++;
        await rt.remove(id).catch((e: unknown) => this.d.logger.warn({ id, err: String(e) }, 'orphan sandbox removal failed'));
      }
    }
    for (const id of await this.d.network.list()) {
      if (!known.has(id)) {
        orphans++;
        await this.d.network.detach(id).catch((e: unknown) => this.d.logger.warn({ id, err: String(e) }, 'orphan network removal failed'));
      }
    }
    return { adopted, stopped, orphans };
  }

  /** Stops timers; sandboxes keep running so a restarted node adopts them. */
  close(): void {
    this.closed = true;
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
const signalNumber = (name: string): number | undefined => SIGNALS[name];
