/**
 * CniNetwork: the NetworkDriver built on named netns + the CNI bridge plugin,
 * an internal DNS server on the bridge gateway and iptables isolation.
 *
 * Optional prewarm pool: `prewarm(n)` keeps n ready netns (eth0 on the bridge,
 * IP leased, lo up, sysctls set) so that `attach` only writes two small files.
 * A pooled netns keeps its `<prefix>-pool-<hex>` name; the id → netns mapping
 * always comes from the attachment record, never from the name.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { NetworkAttachment, NetworkCounters, NetworkDriver } from '../core/ports/network.js';
import { HangarError, asHangarError, notFound } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { deleteBridge, ensureBridge } from './bridge.js';
import {
  POOL_SUFFIX_RE,
  checkHostname,
  checkId,
  hostsText,
  netnsNameForId,
  ownNetnsSuffix,
  poolNetnsName,
  resolveConfig,
  resolvConfText,
  type CniNetworkOptions,
  type NetConfig,
} from './config.js';
import { DnsRegistry, DnsServer } from './dns.js';
import { installFirewall, removeFirewall } from './firewall.js';
import { Tenancy } from './tenancy.js';
import { attachmentOf, pathExists, readSandbox, sweepLeases, sweepTmpFiles, vethCounters } from './host.js';
import { KeyedMutex } from '../lib/mutex.js';
import { netnsExists, netnsList } from './netns.js';
import { createSandbox, teardownSandbox } from './sandbox.js';
import { RecordDir, writeTextAtomic, type AttachmentRecord, type NetSandbox, type PoolRecord } from './state.js';

export type { CniNetworkOptions } from './config.js';

const REFILL_DELAY_MS = 250;

/** How long a claim's iptables write waits, so its process spawn falls while the sandbox's runc runs (see Tenancy). */
const CLAIM_DELAY_MS = 25;

/** Owner marker for netns names held by the prewarm pool. */
const POOL_OWNER = '\0pool';

export class CniNetwork implements NetworkDriver {
  readonly config: NetConfig;
  private readonly log: Logger;
  /** Who owns each instance address: per-user firewall chains and DNS views. */
  private readonly tenancy: Tenancy;
  private readonly registry = new DnsRegistry((from, ip) => this.tenancy.visible(from, ip));
  private readonly dnsServer: DnsServer;
  private readonly records: RecordDir<AttachmentRecord>;
  private readonly poolRecords: RecordDir<PoolRecord>;
  private readonly locks = new KeyedMutex();
  /** netns name → owning id (or POOL_OWNER), for every netns this driver made or is making. */
  private readonly owners = new Map<string, string>();
  private loading: Promise<void> | undefined;
  private initialized = false;
  /** Ready, unclaimed pool entries. */
  private pool: NetSandbox[] = [];
  private poolTarget = 0;
  private poolCreating = 0;
  private filling: Promise<void> | undefined;
  private refillTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(opts: CniNetworkOptions) {
    this.config = resolveConfig(opts);
    this.log = (opts.logger ?? silentLogger).child({ component: 'net', bridge: this.config.bridge });
    this.tenancy = new Tenancy(this.config, (e) => this.log.warn({ err: e }, 'writing per-user network rules failed; they stay closed until a retry lands'), undefined, CLAIM_DELAY_MS);
    // A name is answered to an instance only once its own rules landed: what it resolves, it can reach.
    this.dnsServer = new DnsServer(this.registry, this.log, (from) => this.tenancy.settled(from));
    this.records = new RecordDir(this.config.attachmentsDir);
    this.poolRecords = new RecordDir(this.config.poolDir);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Creates state dirs, the bridge (with the gateway IP), the firewall rules and starts DNS. Idempotent. */
  async init(): Promise<void> {
    const cfg = this.config;
    this.stopping = false;
    await Promise.all([this.records.ensure(), this.poolRecords.ensure(), mkdir(cfg.hostsDir, { recursive: true }), mkdir(cfg.ipamDir, { recursive: true })]);
    const resolv = resolvConfText(cfg);
    if ((await readFile(cfg.resolvConf, 'utf8').catch(() => '')) !== resolv) await writeTextAtomic(cfg.resolvConf, resolv);
    await ensureBridge(cfg);
    await installFirewall(cfg);
    await this.dnsServer.start(cfg.gateway, 53);
    await this.load();
    await this.adoptPool();
    await this.tenancy.sync();
    // What a kill -9 leaves: temp files of interrupted writes, leases whose netns never got recorded.
    const tmp = await sweepTmpFiles(cfg);
    const leases = await sweepLeases(cfg, new Set(await netnsList()), new Set(this.owners.keys()));
    this.initialized = true;
    this.log.info({ subnet: cfg.subnet, gateway: cfg.gateway, sweptTmpFiles: tmp, sweptLeases: leases }, 'network ready');
  }

  /** Stops the DNS server and pool refills and releases the pool. Attachments stay (their instances survive restarts). */
  async close(): Promise<void> {
    this.stopping = true;
    this.initialized = false;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    await this.filling?.catch(() => undefined);
    await this.dnsServer.stop();
    await this.releasePool();
    await this.tenancy.idle();
    this.tenancy.close();
  }

  /** Pool entries hold a netns, a veth and an IP for instances that may never come: a clean stop gives them back. */
  private async releasePool(): Promise<void> {
    const names = new Set([...this.pool.map((e) => e.netnsName), ...(await this.poolRecords.keys())]);
    this.pool = [];
    for (const name of names) {
      const owner = this.owners.get(name);
      if (owner === undefined || owner === POOL_OWNER) {
        await teardownSandbox(this.config, this.log, name).catch((e: unknown) => this.log.warn({ err: e, netns: name }, 'releasing a pool netns failed'));
        this.owners.delete(name);
      }
      await this.poolRecords.remove(name);
    }
  }

  /** Removes everything this driver made: netns, veths, leases, iptables rules, the bridge and stateDir. */
  async destroy(): Promise<void> {
    await this.close();
    await this.load();
    const cfg = this.config;
    // Best effort: every step runs even if an earlier one failed; the first error is rethrown.
    let first: unknown;
    const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        this.log.warn({ err: e }, `destroy: ${what} failed`);
        first ??= e;
      }
    };
    const names = new Set<string>(this.owners.keys());
    for (const n of await netnsList()) if (ownNetnsSuffix(cfg, n) !== undefined) names.add(n);
    for (const n of names) await step(`removing netns ${n}`, () => teardownSandbox(this.config, this.log, n));
    this.owners.clear();
    this.pool = [];
    this.poolTarget = 0;
    await step('removing iptables rules', () => removeFirewall(cfg));
    await step('deleting the bridge', () => deleteBridge(cfg));
    if (first === undefined) await step('removing state', () => rm(cfg.stateDir, { recursive: true, force: true }));
    this.loading = undefined;
    if (first !== undefined) throw asHangarError(first, 'unavailable');
  }

  /**
   * Keeps `n` ready attachments in a pool (0 disables it); resolves once the pool
   * is full, rejects if making an entry fails. Taken entries are refilled in the background.
   */
  async prewarm(n: number): Promise<void> {
    if (!Number.isInteger(n) || n < 0 || n > 256) throw new HangarError('invalid_argument', 'prewarm: n must be 0..256', { field: 'n' });
    this.requireInit();
    this.poolTarget = n;
    await this.refill();
  }

  /** Ready pool entries right now (for tests and metrics). */
  get poolSize(): number {
    return this.pool.length;
  }

  // ---- NetworkDriver ---------------------------------------------------------------------

  /** `user` defaults to '' (one shared group) for callers that do not say, such as the driver's own tests. */
  async attach(id: string, hostname: string, user = ''): Promise<NetworkAttachment> {
    checkId(id);
    checkHostname(hostname);
    this.requireInit();
    return this.locks.run(id, async () => {
      const existing = await this.records.read(id);
      if (existing?.status === 'ready' && existing.sandbox && (await netnsExists(existing.netnsName))) {
        if (existing.hostname !== hostname || (existing.owner ?? '') !== user) {
          await this.writeHosts(id, existing.sandbox.ip, hostname);
          await this.records.write(id, { ...existing, hostname, owner: user });
        }
        this.claim(id, existing.sandbox.ip, user);
        return this.attachment(id, existing.sandbox);
      }
      if (existing) await this.release(id, existing.netnsName);

      const pooled = this.pool.shift();
      if (pooled) {
        try {
          this.owners.set(pooled.netnsName, id);
          // Claimed first: its iptables write then runs beside the file writes below and the sandbox start after them.
          this.claim(id, pooled.ip, user);
          // Independent files (a crash between them leaves a record that recover() completes from the netns).
          await Promise.all([
            this.writeHosts(id, pooled.ip, hostname),
            this.records.write(id, { version: 1, id, status: 'ready', netnsName: pooled.netnsName, hostname, owner: user, sandbox: pooled }),
          ]);
          await this.poolRecords.remove(pooled.netnsName);
        } catch (e) {
          // The record may not name the address yet: take it out of the user's network here, before it is freed.
          await this.tenancy.release(pooled.ip).catch(() => undefined);
          await this.release(id, pooled.netnsName).catch(() => undefined);
          throw new HangarError('internal', `attaching ${id} from the pool failed: ${(e as Error).message}`, { cause: e });
        }
        this.scheduleRefill();
        return this.attachment(id, pooled);
      }

      let name = netnsNameForId(this.config, id);
      const owner = this.owners.get(name);
      if (owner !== undefined && owner !== id) name = `${this.config.netnsPrefix}-x${randomBytes(6).toString('hex').slice(0, 11)}`;
      this.owners.set(name, id);
      try {
        await this.records.write(id, { version: 1, id, status: 'pending', netnsName: name, hostname, owner: user });
        const sandbox = await createSandbox(this.config, this.log, name);
        await this.writeHosts(id, sandbox.ip, hostname);
        await this.records.write(id, { version: 1, id, status: 'ready', netnsName: name, hostname, owner: user, sandbox });
        this.claim(id, sandbox.ip, user);
        return this.attachment(id, sandbox);
      } catch (e) {
        await this.release(id, name).catch((err: unknown) => this.log.warn({ err, id }, 'cleanup after a failed attach failed'));
        throw asHangarError(e, 'unavailable');
      }
    });
  }

  async detach(id: string): Promise<void> {
    checkId(id);
    await this.load();
    return this.locks.run(id, async () => {
      const rec = await this.records.read(id);
      if (rec) {
        await this.release(id, rec.netnsName);
        return;
      }
      // No record: maybe an orphan netns named after the id (its record was lost).
      const name = netnsNameForId(this.config, id);
      if (!this.owners.has(name) && (await netnsExists(name))) await teardownSandbox(this.config, this.log, name);
      await rm(this.hostsFile(id), { force: true });
    });
  }

  async list(): Promise<string[]> {
    await this.load();
    const ids = new Set(await this.records.keys());
    for (const n of await netnsList()) {
      const suffix = ownNetnsSuffix(this.config, n);
      if (suffix !== undefined && !this.owners.has(n)) ids.add(suffix);
    }
    return [...ids];
  }

  async counters(id: string): Promise<NetworkCounters> {
    checkId(id);
    const rec = await this.records.read(id);
    if (!rec?.sandbox) throw notFound(`no network attachment for ${id}`);
    try {
      return await vethCounters(rec.sandbox.hostVeth);
    } catch (e) {
      throw new HangarError('not_found', `interface ${rec.sandbox.hostVeth} of ${id} is gone`, { cause: e });
    }
  }

  async recover(id: string, hostname: string, user = ''): Promise<NetworkAttachment | undefined> {
    checkId(id);
    checkHostname(hostname);
    await this.load();
    return this.locks.run(id, async () => {
      const rec = await this.records.read(id);
      const name = rec?.netnsName ?? netnsNameForId(this.config, id);
      // The kernel's view, not the record's: the record may be pending or stale after a crash.
      const sandbox = await readSandbox(this.config, name);
      if (!sandbox) return undefined;
      this.owners.set(name, id);
      await this.writeHosts(id, sandbox.ip, hostname);
      await this.records.write(id, { version: 1, id, status: 'ready', netnsName: name, hostname, owner: user, sandbox });
      await this.poolRecords.remove(name);
      // After a crash nothing is waiting on the create path: write the rules before the instance counts as recovered.
      await this.tenancy.claim(sandbox.ip, user).landed;
      return this.attachment(id, sandbox);
    });
  }

  /** Resolves when the per-user rules of the latest attach of `ip` are on the host (tests, and callers that must reach peers at once). */
  async networkSettled(ip: string): Promise<void> {
    await this.tenancy.settled(ip);
  }

  setName(name: string, ip: string): void {
    this.registry.set(name, ip);
  }

  removeName(name: string): void {
    this.registry.remove(name);
  }

  // ---- internals -------------------------------------------------------------------------

  private requireInit(): void {
    if (!this.initialized) throw new HangarError('failed_precondition', 'network driver is not initialized (call init())');
  }

  /** Claims `ip` for `user` without waiting for iptables (see Tenancy): the rules fail closed until they land. */
  private claim(id: string, ip: string, user: string): void {
    this.tenancy.claim(ip, user).landed.catch((e: unknown) => this.log.warn({ err: e, id }, 'writing per-user network rules failed; the instance reaches no peer until a retry lands'));
  }

  private hostsFile(id: string): string {
    return path.join(this.config.hostsDir, id);
  }

  private attachment(id: string, sb: NetSandbox): NetworkAttachment {
    return attachmentOf(this.config, id, sb, this.hostsFile(id));
  }

  private async writeHosts(id: string, ip: string, hostname: string): Promise<void> {
    await writeTextAtomic(this.hostsFile(id), hostsText(ip, hostname));
  }

  /** Reads the records once, to know which netns names are taken. */
  private load(): Promise<void> {
    this.loading ??= (async () => {
      for (const id of await this.records.keys()) {
        const rec = await this.records.read(id);
        if (rec?.netnsName) this.owners.set(rec.netnsName, id);
        if (rec?.status === 'ready' && rec.sandbox) this.tenancy.note(rec.sandbox.ip, rec.owner ?? '');
      }
      for (const name of await this.poolRecords.keys()) {
        if (!this.owners.has(name)) this.owners.set(name, POOL_OWNER);
      }
    })();
    return this.loading;
  }

  /** Tears down the netns of an attachment and forgets it. */
  private async release(id: string, name: string): Promise<void> {
    const ip = (await this.records.read(id))?.sandbox?.ip;
    // Before the teardown frees the address: the next netns to get it must not find it in this owner's chain.
    if (ip !== undefined) await this.tenancy.release(ip).catch((e: unknown) => this.log.warn({ err: e, id }, 'updating per-user network rules failed'));
    await teardownSandbox(this.config, this.log, name);
    await Promise.all([this.records.remove(id), rm(this.hostsFile(id), { force: true })]);
    if (this.owners.get(name) === id) this.owners.delete(name);
  }

  /** At init: keep valid pool entries from a previous run, tear down broken or stray ones. */
  private async adoptPool(): Promise<void> {
    const cfg = this.config;
    this.pool = [];
    for (const name of await this.poolRecords.keys()) {
      const rec = await this.poolRecords.read(name);
      const owner = this.owners.get(name);
      if (owner !== undefined && owner !== POOL_OWNER) {
        await this.poolRecords.remove(name); // handed out just before a crash
        continue;
      }
      if (rec?.status === 'ready' && rec.sandbox && (await netnsExists(name)) && (await pathExists(`/sys/class/net/${cfg.bridge}/brif/${rec.sandbox.hostVeth}`))) {
        this.pool.push(rec.sandbox);
        continue;
      }
      await teardownSandbox(this.config, this.log, name).catch((e: unknown) => this.log.warn({ err: e, netns: name }, 'removing a broken pool entry failed'));
      await this.poolRecords.remove(name);
      this.owners.delete(name);
    }
    for (const n of await netnsList()) {
      const suffix = ownNetnsSuffix(cfg, n);
      if (suffix && POOL_SUFFIX_RE.test(suffix) && !this.owners.has(n)) {
        await teardownSandbox(this.config, this.log, n).catch((e: unknown) => this.log.warn({ err: e, netns: n }, 'removing a stray pool netns failed'));
      }
    }
  }

  /**
   * Refills the pool once starts have quietened down: on 2 cores, building a
   * netns right away competes with the `runc run` of the instance that just
   * took one (measured: +9 ms to its first byte). An empty pool refills at once.
   */
  private scheduleRefill(): void {
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
    if (this.stopping || this.pool.length + this.poolCreating >= this.poolTarget) return Promise.resolve();
    this.filling = this.fillLoop();
    return this.filling;
  }

  private async fillLoop(): Promise<void> {
    try {
      while (!this.stopping && this.pool.length + this.poolCreating < this.poolTarget) {
        const name = poolNetnsName(this.config, randomBytes(4).toString('hex').slice(0, 7));
        if (this.owners.has(name)) continue;
        this.owners.set(name, POOL_OWNER);
        this.poolCreating++;
        try {
          await this.poolRecords.write(name, { version: 1, status: 'pending', netnsName: name });
          const sandbox = await createSandbox(this.config, this.log, name);
          await this.poolRecords.write(name, { version: 1, status: 'ready', netnsName: name, sandbox });
          this.pool.push(sandbox);
        } catch (e) {
          this.owners.delete(name);
          await this.poolRecords.remove(name).catch(() => undefined);
          throw asHangarError(e, 'unavailable');
        } finally {
          this.poolCreating--;
        }
      }
    } finally {
      this.filling = undefined;
    }
  }
}
