import type { Backend, Route } from '../core/services/routes.js';

export type BackendPick = { kind: 'backend'; backend: Backend; release: () => void } | { kind: 'unavailable'; why: 'no_instance' | 'hard_limit' };

/**
 * Least connections over a group's running instances: the instance with the
 * fewest requests in flight through this ingress gets the next one; ties go
 * round-robin so that sequential requests spread. An instance at the
 * group's `hard_limit` takes no more; when all are there the answer is 503.
 * `soft_limit` is not applied yet (it becomes queueing with scale-to-zero).
 */
export class LeastConnections {
  private readonly inFlight = new Map<string, number>();
  private turn = 0;

  pick(route: Route): BackendPick {
    if (route.backends.length === 0) return { kind: 'unavailable', why: 'no_instance' };
    const n = route.backends.length;
    const start = this.turn++ % n;
    let best: Backend | undefined;
    let bestCount = Infinity;
    for (let k = 0; k < n; k++) {
      const b = route.backends[(start + k) % n]!;
      const c = this.inFlight.get(b.uuid) ?? 0;
      if (c < route.group.hardLimit && c < bestCount) {
        best = b;
        bestCount = c;
      }
    }
    if (!best) return { kind: 'unavailable', why: 'hard_limit' };
    const uuid = best.uuid;
    this.inFlight.set(uuid, bestCount + 1);
    let released = false;
    return {
      kind: 'backend',
      backend: best,
      release: () => {
        if (released) return;
        released = true;
        const c = (this.inFlight.get(uuid) ?? 1) - 1;
        if (c <= 0) this.inFlight.delete(uuid);
        else this.inFlight.set(uuid, c);
      },
    };
  }

  /** Requests in flight to an instance (for tests and metrics). */
  count(uuid: string): number {
    return this.inFlight.get(uuid) ?? 0;
  }
}
