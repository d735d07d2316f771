import type { Logger } from '../../../lib/log.js';
import type { Instance } from '../../instance.js';
import type { Clock, TimerHandle } from '../../ports/clock.js';
import type { ImageStore } from '../../ports/images.js';
import type { Locks } from '../../ports/locks.js';
import type { LogStore } from '../../ports/logs.js';
import type { NetworkDriver } from '../../ports/network.js';
import type { RomStore } from '../../ports/roms.js';
import type { RuntimeDriver, RuntimeRegistry } from '../../ports/runtime.js';
import type { InstanceStore } from '../../ports/store.js';
import { transition, type InstanceEvent } from '../../state-machine.js';
import type { Admission } from '../admission.js';
import { StateWaiters } from '../waiters.js';

export interface LifecycleDeps {
  store: InstanceStore;
  /** The node's sandbox drivers; an instance runs on the one it names (`driver`), else the default. */
  runtimes: RuntimeRegistry;
  network: NetworkDriver;
  images: ImageStore;
  logs: LogStore;
  clock: Clock;
  logger: Logger;
  /** Held around every change of one instance (key: its uuid). */
  locks: Locks;
  /** This node's id: it runs, restarts and reconciles only instances recording it. */
  nodeId: string;
  /** How long a graceful stop waits after SIGTERM before SIGKILL. */
  stopGraceMs: number;
  /** Quotas and node capacity a start must fit in; without it every start is admitted. */
  admission?: Admission;
  /** Where ROM bytes live; an instance with ROMs cannot start without it. */
  roms?: RomStore;
}

/** What the node knows about a sandbox it is running right now (memory only). */
export interface LiveRun {
  startedMonoUs: number;
  /** Set when a user or the platform asked for the stop: its stop_reason, and that it must not restart. */
  stopReason?: number;
  deleting?: boolean;
}

/**
 * The state the lifecycle modules (start, stop, suspend, exits, restarts,
 * destroy, reconcile) share. Every state change goes through `move`, which
 * applies the state machine and persists before waiters hear.
 */
export class RunContext {
  readonly waiters: StateWaiters;
  readonly live = new Map<string, LiveRun>();
  readonly restartTimers = new Map<string, TimerHandle>();
  closed = false;

  /** `restartNow` starts a stopped instance again for its restart policy (start.ts, given here to keep the modules acyclic). */
  constructor(
    readonly d: LifecycleDeps,
    readonly restartNow: (uuid: string) => Promise<Instance>,
  ) {
    this.waiters = new StateWaiters(d.clock);
  }

  /** The driver that runs `inst`'s sandbox. */
  driverFor(inst: Instance): RuntimeDriver {
    return this.d.runtimes.get(inst.driver);
  }

  /** Every driver on this node (reconcile lists their sandboxes). */
  drivers(): RuntimeDriver[] {
    return [...this.d.runtimes.all()];
  }

  locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    return this.d.locks.run(uuid, fn);
  }

  /** Applies a state-machine event, persists, and tells waiters. */
  async move(inst: Instance, event: InstanceEvent, patch: Partial<Instance> = {}): Promise<Instance> {
    return this.save({ ...inst, ...patch, state: transition(inst.state, event) });
  }

  /** move(), admitted first: check and write in one unit, so two starts cannot both take the last room. */
  async moveAdmitted(inst: Instance, event: InstanceEvent): Promise<Instance> {
    const admission = this.d.admission;
    if (!admission) return this.move(inst, event);
    const next = { ...inst, state: transition(inst.state, event) };
    await this.d.store.unitOfWork(async (tx) => {
      await admission.admitLive(tx, inst.owner, [inst]);
      await tx.updateInstance(next);
    });
    this.waiters.notify(next.uuid, next);
    return next;
  }

  async save(inst: Instance): Promise<Instance> {
    await this.d.store.updateInstance(inst);
    this.waiters.notify(inst.uuid, inst);
    return inst;
  }

  fresh(uuid: string): Promise<Instance | undefined> {
    return this.d.store.getInstance(uuid);
  }

  /** Milliseconds the run that started at `inst.startedAt` lasted until now. */
  ranMs(inst: Instance, now = this.d.clock.now()): number {
    return inst.startedAt ? Math.max(0, now.getTime() - Date.parse(inst.startedAt)) : 0;
  }

  cancelRestart(uuid: string): void {
    this.restartTimers.get(uuid)?.cancel();
    this.restartTimers.delete(uuid);
  }
}
