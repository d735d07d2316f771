/**
 * The prewarm pool of CniNetwork: `prewarm(n)` keeps n ready netns (eth0 on
 * the bridge, IP leased, lo up, sysctls set) so that an attach only writes
 * two small files. A pooled netns keeps its `<prefix>-pool-<hex>` name; the
 * id → netns mapping always comes from the attachment record, never from the
 * name. Each entry has a record in `poolDir` until it is handed out, so a
 * restarted node adopts the ready ones and tears down the rest.
 */
import { randomBytes } from 'node:crypto';
import { asHangarError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { POOL_SUFFIX_RE, ownNetnsSuffix, poolNetnsName, type NetConfig } from './config.js';
import { pathExists } from './host.js';
import { netnsExists, netnsList } from './netns.js';
import { createSandbox, teardownSandbox } from './sandbox.js';
import { RecordDir, type NetSandbox, type PoolRecord } from './state.js';

const REFILL_DELAY_MS = 250;

/** Owner marker for netns names held by the prewarm pool. */
export const POOL_OWNER = '\0pool';

export class NetnsPool {
  private readonly records: RecordDir<PoolRecord>;
  /** Ready, unclaimed entries. */
  private pool: NetSandbox[] = [];
  private target = 0;
  private creating = 0;
  private filling: Promise<void> | undefined;
  private refillTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  /** `owners` is the driver's map of netns name → owning id (or POOL_OWNER), shared so names never collide. */
  constructor(
    private readonly config: NetConfig,
    private readonly log: Logger,
    private readonly owners: Map<string, string>,
  ) {
    this.records = new RecordDir(config.poolDir);
  }

  /** Creates the records folder and allows refills again (after a close). */
  async open(): Promise<void> {
    this.stopping = false;
    await this.records.ensure();
  }

  /** Marks the names the records hold as taken (the driver's load of its records). */
  async noteNames(): Promise<void> {
    for (const name of await this.records.keys()) {
      if (!this.owners.has(name)) this.owners.set(name, POOL_OWNER);
    }
  }

  /** At init: keep valid entries from a previous run, tear down broken or stray ones. */
  async adopt(): Promise<void> {
    const cfg = this.config;
    this.pool = [];
    for (const name of await this.records.keys()) {
      const rec = await this.records.read(name);
      const owner = this.owners.get(name);
      if (owner !== undefined && owner !== POOL_OWNER) {
        await this.records.remove(name); // handed out just before a crash
        continue;
      }
      if (rec?.status === 'ready' && rec.sandbox && (await netnsExists(name)) && (await pathExists(`/sys/class/net/${cfg.bridge}/brif/${rec.sandbox.hostVeth}`))) {
        this.pool.push(rec.sandbox);
        continue;
      }
      await teardownSandbox(this.config, this.log, name).catch((e: unknown) => this.log.warn({ err: e, netns: name }, 'removing a broken pool entry failed'));
      await this.records.remove(name);
      this.owners.delete(name);
    }
    for (const n of await netnsList()) {
      const suffix = ownNetnsSuffix(cfg, n);
      if (suffix && POOL_SUFFIX_RE.test(suffix) && !this.owners.has(n)) {
        await teardownSandbox(this.config, this.log, n).catch((e: unknown) => this.log.warn({ err: e, netns: n }, 'removing a stray pool netns failed'));
      }
    }
  }

  /** Stops refills and waits for the one in progress. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    await this.filling?.catch(() => undefined);
  }

  /** Entries hold a netns, a veth and an IP for instances that may never come: a clean stop gives them back. */
  async release(): Promise<void> {
    const names = new Set([...this.pool.map((e) => e.netnsName), ...(await this.records.keys())]);
    this.pool = [];
    for (const name of names) {
      const owner = this.owners.get(name);
      if (owner === undefined || owner === POOL_OWNER) {
        await teardownSandbox(this.config, this.log, name).catch((e: unknown) => this.log.warn({ err: e, netns: name }, 'releasing a pool netns failed'));
        this.owners.delete(name);
      }
      await this.records.remove(name);
    }
  }

  /** Forgets every entry (the driver's destroy removes their netns itself). */
  clear(): void {
    this.pool = [];
    this.target = 0;
  }

  /** Keeps `n` ready entries (0 disables the pool; the driver checks n); resolves once full, rejects if making an entry fails. */
  async prewarm(n: number): Promise<void> {
    this.target = n;
    await this.refill();
  }

  get size(): number {
    return this.pool.length;
  }

  /** A ready entry, if any; the caller records who owns it, then calls `handedOut`. */
  take(): NetSandbox | undefined {
    return this.pool.shift();
  }

  /** Drops the pool record of a netns now recorded as an attachment (also after recover). */
  async handedOut(name: string): Promise<void> {
    await this.records.remove(name);
  }

  /**
   * Refills once starts have quietened down: on 2 cores, building a netns
   * right away competes with the `runc run` of the instance that just took
   * one (measured: +9 ms to its first byte). An empty pool refills at once.
   */
  scheduleRefill(): void {
    if (this.refillTimer) clearTimeout(this.refillTimer);
    const go = (): void => {
      this.refillTimer = undefined;
      void this.refill().catch((e: unknown) => this.log.warn({ err: e }, 'refilling the netns pool failed'));
    };
    if (this.pool.length === 0) go();
    else this.refillTimer = setTimeout(go, REFILL_DELAY_MS).unref();
  }

  private refill(): Promise<void> {
    if (this.filling) return this.filling;
    if (this.stopping || this.pool.length + this.creating >= this.target) return Promise.resolve();
    this.filling = this.fillLoop();
    return this.filling;
  }

  private async fillLoop(): Promise<void> {
    try {
      while (!this.stopping && this.pool.length + this.creating < this.target) {
        const name = poolNetnsName(this.config, randomBytes(4).toString('hex').slice(0, 7));
        if (this.owners.has(name)) continue;
        this.owners.set(name, POOL_OWNER);
        this.creating++;
        try {
          await this.records.write(name, { version: 1, status: 'pending', netnsName: name });
          const sandbox = await createSandbox(this.config, this.log, name);
          await this.records.write(name, { version: 1, status: 'ready', netnsName: name, sandbox });
          this.pool.push(sandbox);
        } catch (e) {
          this.owners.delete(name);
          await this.records.remove(name).catch(() => undefined);
          throw asHangarError(e, 'unavailable');
        } finally {
          this.creating--;
        }
      }
    } finally {
      this.filling = undefined;
    }
  }
}
