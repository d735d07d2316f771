import type { RuntimeDriver } from '../ports/runtime.js';
import { isUp, type Instance, type InstanceState } from '../instance.js';
import { RunContext, type LifecycleDeps } from './lifecycle/context.js';
import { destroy } from './lifecycle/destroy.js';
import { reconcile, type ReconcileResult } from './lifecycle/reconcile.js';
import { start } from './lifecycle/start.js';
import { stop, type StopOptions } from './lifecycle/stop.js';
import { suspend } from './lifecycle/suspend.js';
import type { StateWaiters } from './waiters.js';

export type { LifecycleDeps } from './lifecycle/context.js';

/**
 * The mechanics of running instances, one module per job under lifecycle/
 * (start, stop, suspend, exits, restarts, destroy, reconcile); this class
 * holds their shared state and is what the service and the node call. All
 * state changes go through the state machine and are persisted before
 * waiters hear. Methods that change one instance expect the caller to hold
 * its lock (`locked`).
 */
export class Lifecycle {
  private readonly ctx: RunContext;

  constructor(d: LifecycleDeps) {
    this.ctx = new RunContext(d, (uuid) => start(this.ctx, uuid, { restart: true }));
  }

  get waiters(): StateWaiters {
    return this.ctx.waiters;
  }

  get nodeId(): string {
    return this.ctx.d.nodeId;
  }

  /** The driver that runs `inst`'s sandbox. */
  driverFor(inst: Instance): RuntimeDriver {
    return this.ctx.driverFor(inst);
  }

  locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    return this.ctx.locked(uuid, fn);
  }

  start(uuid: string, opts: { restart?: boolean } = {}): Promise<Instance> {
    return start(this.ctx, uuid, opts);
  }

  stop(uuid: string, opts: StopOptions): Promise<Instance> {
    return stop(this.ctx, uuid, opts);
  }

  suspend(uuid: string): Promise<Instance> {
    return suspend(this.ctx, uuid);
  }

  destroy(inst: Instance): Promise<InstanceState> {
    return destroy(this.ctx, inst);
  }

  reconcile(): Promise<ReconcileResult> {
    return reconcile(this.ctx);
  }

  /** Current uptime including the run in progress. */
  uptimeMs(inst: Instance): number {
    if (!isUp(inst.state)) return inst.uptimeMs;
    return inst.uptimeMs + (inst.startedAt ? this.ctx.ranMs(inst) : 0);
  }

  /**
   * Stops timers and waits for exit handling already under way (its record must reach the store before the store
   * closes); sandboxes keep running so a restarted node adopts them.
   */
  async close(): Promise<void> {
    this.ctx.closed = true;
    for (const t of this.ctx.restartTimers.values()) t.cancel();
    this.ctx.restartTimers.clear();
    await this.ctx.drain();
  }
}
