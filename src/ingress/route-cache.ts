import { RouteTable, type RouteSource } from '../core/services/routes.js';

/**
 * The route table, reloaded from the records on a short period and on
 * demand (a name or instance the table does not know yet). Reading the
 * records rather than being pushed events keeps every path that changes
 * groups or instances (API, exits, restarts, reconcile after a crash)
 * visible without each having to notify the ingress; a reload is two
 * SQLite reads, and `minAgeMs` bounds how often requests can force one.
 */
export class RouteCache {
  private table = new RouteTable([], []);
  private loadedAt = 0;
  private loading: Promise<RouteTable> | undefined;

  constructor(private readonly source: RouteSource, private readonly minAgeMs = 200, private readonly now: () => number = Date.now) {}

  get current(): RouteTable {
    return this.table;
  }

  /** Reloads (concurrent callers share one load). */
  reload(): Promise<RouteTable> {
    this.loading ??= RouteTable.load(this.source)
      .then((t) => {
        this.table = t;
        this.loadedAt = this.now();
        return t;
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  /** The table, reloaded first if it is older than `minAgeMs`: for a miss that a just-made record may explain. */
  async fresh(): Promise<RouteTable> {
    if (this.now() - this.loadedAt < this.minAgeMs) return this.table;
    return this.reload();
  }
}
