import type { Instance, InstanceState } from '../instance.js';
import type { Clock } from '../ports/clock.js';

type Listener = (inst: Instance | undefined) => void;

/**
 * Who is waiting for which instance to change. Notified after every persisted
 * state change; `undefined` means the instance was deleted.
 */
export class StateWaiters {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly clock: Clock) {}

  notify(uuid: string, inst: Instance | undefined): void {
    const set = this.listeners.get(uuid);
    if (!set) return;
    for (const l of [...set]) l(inst);
  }

  /**
   * Resolves with the instance once `pred` holds, with undefined if it is
   * deleted first, or with 'timeout'. `timeoutMs` < 0 waits forever.
   */
  waitFor(uuid: string, current: Instance, pred: (s: InstanceState) => boolean, timeoutMs: number): Promise<Instance | undefined | 'timeout'> {
    if (pred(current.state)) return Promise.resolve(current);
    if (timeoutMs === 0) return Promise.resolve('timeout');
    return new Promise((resolve) => {
      let set = this.listeners.get(uuid);
      if (!set) this.listeners.set(uuid, (set = new Set()));
      const done = (v: Instance | undefined | 'timeout'): void => {
        set.delete(listener);
        if (set.size === 0) this.listeners.delete(uuid);
        timer?.cancel();
        resolve(v);
      };
      const listener: Listener = (inst) => {
        if (inst === undefined) done(undefined);
        else if (pred(inst.state)) done(inst);
      };
      set.add(listener);
      const timer = timeoutMs > 0 ? this.clock.setTimer(timeoutMs, () => done('timeout')) : undefined;
    });
  }
}
