/**
 * CniNetwork: the NetworkDriver built on named netns + the CNI bridge plugin,
 * an internal DNS server on the bridge gateway and iptables isolation.
 *
 * Optional prewarm pool (pool.ts): `prewarm(n)` keeps n ready netns so that
 * `attach` only writes two small files.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { NetworkAttachment, NetworkCounters, NetworkDriver } from '../core/ports/network.js';
import { HangarError, asHangarError, notFound } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { deleteBridge, ensureBridge } from './bridge.js';
import {
  checkHostname,
  checkId,
  hostsText,
  netnsNameForId,
  ownNetnsSuffix,
  resolveConfig,
  resolvConfText,
  type CniNetworkOptions,
  type NetConfig,
} from './config.js';
import { DnsRegistry, DnsServer } from './dns.js';
import { installFirewall, removeFirewall } from './firewall.js';
import { Tenancy } from './tenancy.js';
import { attachmentOf, readSandbox, sweepLeases, sweepTmpFiles, vethCounters } from './host.js';
import { KeyedMutex } from '../lib/mutex.js';
import { netnsExists, netnsList } from './netns.js';
import { createSandbox, teardownSandbox } from './sandbox.js';
import { NetnsPool } from './pool.js';
import { RecordDir, writeTextAtomic, type AttachmentRecord, type NetSandbox } from './state.js';

export type { CniNetworkOptions } from './config.js';

/** How long a claim's iptables write waits, so its process spawn falls while the sandbox's runc runs (see Tenancy). */
const CLAIM_DELAY_MS = 25;

export class CniNetwork implements NetworkDriver {
  readonly config: NetConfig;
  private readonly log: Logger;
  /** Who owns each instance address: per-user firewall chains and DNS views. */
  private readonly tenancy: Tenancy;
  private readonly registry = new DnsRegistry((from, ip) => this.tenancy.visible(from, ip));
  private readonly dnsServer: DnsServer;
  private readonly records: RecordDir<AttachmentRecord>;
  private readonly pool: NetnsPool;
  private readonly locks = new KeyedMutex();
  /** netns name → owning id (or POOL_OWNER), for every netns this driver made or is making. */
  private readonly owners = new Map<string, string>();
  private loading: Promise<void> | undefined;
  private initialized = false;

  constructor(opts: CniNetworkOptions) {
    this.config = resolveConfig(opts);
    this.log = (opts.logger ?? silentLogger).child({ component: 'net', bridge: this.config.bridge });
    this.tenancy = new Tenancy(this.config, (e) => this.log.warn({ err: e }, 'writing per-user network rules failed; they stay closed until a retry lands'), undefined, CLAIM_DELAY_MS);
    // A name is answered to an instance only once its own rules landed: what it resolves, it can reach.
    this.dnsServer = new DnsServer(this.registry, this.log, (from) => this.tenancy.settled(from));
    this.records = new RecordDir(this.config.attachmentsDir);
    this.pool = new NetnsPool(this.config, this.log, this.owners);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Creates state dirs, the bridge (with the gateway IP), the firewall rules and starts DNS. Idempotent. */
  async init(): Promise<void> {
    const cfg = this.config;
    await Promise.all([this.records.ensure(), this.pool.open(), mkdir(cfg.hostsDir, { recursive: true }), mkdir(cfg.ipamDir, { recursive: true })]);
    const resolv = resolvConfText(cfg);
    if ((await readFile(cfg.resolvConf, 'utf8').catch(() => '')) !== resolv) await writeTextAtomic(cfg.resolvConf, resolv);
    await ensureBridge(cfg);
    await installFirewall(cfg);
    await this.dnsServer.start(cfg.gateway, 53);
    await this.load();
    await this.pool.adopt();
    await this.tenancy.sync();
    // What a kill -9 leaves: temp files of interrupted writes, leases whose netns never got recorded.
    const tmp = await sweepTmpFiles(cfg);
    const leases = await sweepLeases(cfg, new Set(await netnsList()), new Set(this.owners.keys()));
    this.initialized = true;
    this.log.info({ subnet: cfg.subnet, gateway: cfg.gateway, sweptTmpFiles: tmp, sweptLeases: leases }, 'network ready');
  }

  /** Stops the DNS server and pool refills and releases the pool. Attachments stay (their instances survive restarts). */
  async close(): Promise<void> {
    this.initialized = false;
    await this.pool.stop();
    await this.dnsServer.stop();
    await this.pool.release();
    await this.tenancy.idle();
    this.tenancy.close();
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
    this.pool.clear();
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
    await this.pool.prewarm(n);
  }

  /** Ready pool entries right now (for tests and metrics). */
  get poolSize(): number {
    return this.pool.size;
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

      const pooled = this.pool.take();
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
          await this.pool.handedOut(pooled.netnsName);
        } catch (e) {
          // The record may not name the address yet: take it out of the user's network here, before it is freed.
          await this.tenancy.release(pooled.ip).catch(() => undefined);
          await this.release(id, pooled.netnsName).catch(() => undefined);
          throw new HangarError('internal', `attaching ${id} from the pool failed: ${(e as Error).message}`, { cause: e });
        }
        this.pool.scheduleRefill();
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
      await this.pool.handedOut(name);
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
      await this.pool.noteNames();
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
}
