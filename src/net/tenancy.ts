/**
 * Private networks per user on one bridge. Host-local IPAM hands out addresses
 * from one range, so users cannot be told apart by subnet; instead the driver
 * knows each instance address's owner and keeps iptables chains from that map
 * (bridged traffic passes iptables FORWARD through br_netfilter):
 *
 *   FORWARD -i br → HANGAR-FWD-<br>: -o br → HANGAR-TEN-<br>
 *   HANGAR-TEN-<br>:  -s <ip of U's instance> -j HGU-<br>-<hash U>   (one per instance), then DROP
 *   HGU-<br>-<hash U>: -d <ip of U's instance> -j ACCEPT           (one per instance), then DROP
 *
 * so a packet between instances passes only when source and destination have
 * the same owner, and a source the driver did not attach (a pool entry, a
 * spoofed address) passes nowhere. The whole set is rewritten atomically by one
 * `iptables-restore --noflush` per write (declared chains are flushed and refilled);
 * concurrent changes share one write, and a claim does not wait for it (`Tenancy`).
 */
import { createHash } from 'node:crypto';
import { HangarError } from '../lib/errors.js';
import { exec } from '../lib/exec.js';
import { bin } from './bin.js';
import type { NetConfig } from './config.js';

const TIMEOUT_MS = 20_000;

export const tenancyChain = (cfg: NetConfig): string => `HANGAR-TEN-${cfg.bridge}`;
const userChainPrefix = (cfg: NetConfig): string => `HGU-${cfg.bridge}-`;
/** At most 4 + 15 + 1 + 8 = 28 characters, iptables' limit for a chain name. */
export const userChain = (cfg: NetConfig, owner: string): string =>
  `${userChainPrefix(cfg)}${createHash('sha256').update(owner).digest('hex').slice(0, 8)}`;

/** The `iptables-restore --noflush` input for `owners` (ip → owner). Pure. */
export function tenancyRules(cfg: NetConfig, owners: ReadonlyMap<string, string>, staleChains: readonly string[] = []): string {
  const byOwner = new Map<string, string[]>();
  for (const [ip, owner] of [...owners].sort(([a], [b]) => a.localeCompare(b))) byOwner.set(owner, [...(byOwner.get(owner) ?? []), ip]);
  const ten = tenancyChain(cfg);
  const chains = new Set([ten, ...staleChains, ...[...byOwner.keys()].map((o) => userChain(cfg, o))]);
  const lines = ['*filter', ...[...chains].map((c) => `:${c} - [0:0]`)];
  for (const [owner, ips] of byOwner) for (const ip of ips) lines.push(`-A ${ten} -s ${ip}/32 -j ${userChain(cfg, owner)}`);
  lines.push(`-A ${ten} -j DROP`);
  for (const [owner, ips] of byOwner) {
    const uc = userChain(cfg, owner);
    for (const ip of ips) lines.push(`-A ${uc} -d ${ip}/32 -j ACCEPT`);
    lines.push(`-A ${uc} -j DROP`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Names of this bridge's per-user chains present on the host. */
export async function listUserChains(cfg: NetConfig): Promise<string[]> {
  const res = await exec(bin('iptables'), ['-w', '5', '-t', 'filter', '-S'], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  const prefix = `-N ${userChainPrefix(cfg)}`;
  return res.stdout.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(3).trim());
}

/**
 * Rewrites the tenancy chains for `owners`, then deletes the per-user chains in `present` that no instance needs
 * any more. Returns the chains now present.
 */
export async function applyTenancy(cfg: NetConfig, owners: ReadonlyMap<string, string>, present: ReadonlySet<string>): Promise<Set<string>> {
  const wanted = new Set([...owners.values()].map((o) => userChain(cfg, o)));
  const stale = [...present].filter((c) => !wanted.has(c));
  const res = await exec(bin('iptables-restore'), ['-w', '5', '--noflush'], { input: tenancyRules(cfg, owners, stale), timeoutMs: TIMEOUT_MS, allowFailure: true });
  if (res.code !== 0) throw new HangarError('unavailable', `installing per-user network rules on ${cfg.bridge} failed: ${res.stderr.trim() || `exit ${res.code}`}`);
  // Flushed above and no longer referenced by the tenancy chain: safe to delete.
  for (const c of stale) await exec(bin('iptables'), ['-w', '5', '-t', 'filter', '-X', c], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  return wanted;
}

/** Removes the tenancy chain and every per-user chain of this bridge (the forward chain's jump must be gone first). */
export async function removeTenancy(cfg: NetConfig): Promise<void> {
  const chains = [tenancyChain(cfg), ...(await listUserChains(cfg))];
  for (const c of chains) await exec(bin('iptables'), ['-w', '5', '-t', 'filter', '-F', c], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  for (const c of chains) await exec(bin('iptables'), ['-w', '5', '-t', 'filter', '-X', c], { timeoutMs: TIMEOUT_MS, allowFailure: true });
}

/** Applies the rules for an owner map; `present`: per-user chains on the host, undefined when unknown. */
export type TenancyApply = (owners: ReadonlyMap<string, string>, present: ReadonlySet<string> | undefined) => Promise<Set<string>>;

const hostApply =
  (cfg: NetConfig): TenancyApply =>
  async (owners, present) =>
    applyTenancy(cfg, owners, present ?? new Set(await listUserChains(cfg)));

/** Retries of a failed background write before giving up until the next change (the rules stay closed meanwhile). */
const RETRIES = 5;
const RETRY_MS = 500;

/**
 * The instance address → owning user map, and the chains and DNS view that follow from it.
 *
 * A claim does not wait for iptables (one `iptables-restore` cost the create path 15-25 ms): the map changes at
 * once and the host's rules follow in the background, coalesced (claims that arrive while one write runs share the
 * next). That weakens nothing, because the rules fail closed: until its claim lands, an address is in no user's chain,
 * so its packets to other instances and theirs to it are dropped. What the wait protected was only reachability among
 * one user's instances in the first milliseconds; `settled(ip)` gives it to those who need it (the internal DNS
 * answers a source only after its claim landed, so a name resolved is a name reachable). A release waits: its address
 * may be handed out again only after the old owner's rules for it are gone.
 */
export class Tenancy {
  private readonly users = new Map<string, string>();
  /** The write in progress, and the one queued behind it that every change arriving meanwhile joins. */
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  /** Claimed addresses whose rules have not landed yet → a promise of their landing. */
  private readonly pending = new Map<string, Promise<void>>();
  /** Per-user chains on the host: listed once, then known from what each write did (a listing per create cost a process). */
  private present: Set<string> | undefined;
  private deferred: Promise<void> | undefined;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cfg: NetConfig,
    private readonly onError: (e: unknown) => void = () => undefined,
    private readonly apply: TenancyApply = hostApply(cfg),
    private readonly claimDelayMs = 0,
  ) {}

  /** Records an owner without touching the host (while loading; `sync` follows). */
  note(ip: string, user: string): void {
    this.users.set(ip, user);
  }

  /**
   * Makes `ip` reachable by (and only by) `user`'s instances. Returns once the map says so; the returned `landed`
   * settles when the host's rules do (rejecting if they could not be written; retries follow in the background).
   */
  claim(ip: string, user: string): { landed: Promise<void> } {
    if (this.users.get(ip) === user) return { landed: this.pending.get(ip) ?? Promise.resolve() };
    this.users.set(ip, user);
    const landed = this.deferredSync();
    const quiet = landed.catch(() => undefined);
    this.pending.set(ip, quiet);
    void quiet.then(() => {
      if (this.pending.get(ip) === quiet) this.pending.delete(ip);
    });
    return { landed };
  }

  /** Takes `ip` out of every user's network; resolves when the host's rules no longer name it. */
  async release(ip: string): Promise<void> {
    this.pending.delete(ip);
    if (this.users.delete(ip)) await this.sync();
  }

  /** Resolves when the rules of the latest claim of `ip` have been written (or failed to be: they stay closed). */
  settled(ip: string): Promise<void> | undefined {
    return this.pending.get(ip);
  }

  /** Whether a DNS query from `from` may learn a name of `ip`: same owner, or the host itself (gateway). */
  visible(from: string, ip: string): boolean {
    return from === this.cfg.gateway || (this.users.has(from) && this.users.get(from) === this.users.get(ip));
  }

  /**
   * A sync that starts `claimDelayMs` from now, shared by every claim until then. Why wait: spawning iptables-restore
   * forks the node (about 10 ms of its thread at ~100 MB RSS), and right after an attach that thread is about to
   * spawn the sandbox; a little later it only waits for runc, whose app cannot send before ~60 ms anyway.
   */
  private deferredSync(): Promise<void> {
    if (this.claimDelayMs <= 0) return this.sync();
    this.deferred ??= new Promise<void>((r) => setTimeout(r, this.claimDelayMs)).then(() => {
      this.deferred = undefined;
      return this.sync();
    });
    return this.deferred;
  }

  /** Writes the map as it is when the write starts; changes that arrive while one runs share the next write. */
  sync(): Promise<void> {
    if (this.queued) return this.queued;
    const prev = this.running ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        if (this.queued === next) this.queued = undefined;
        this.running = next;
        try {
          this.present = await this.apply(this.users, this.present);
          this.failures = 0;
        } catch (e) {
          this.present = undefined; // unsure what is on the host now: list again next time
          this.retryLater();
          throw e;
        } finally {
          if (this.running === next) this.running = undefined;
        }
      });
    this.queued = next;
    return next;
  }

  /** Waits for every write queued so far (a clean stop, tests). */
  async idle(): Promise<void> {
    for (let i = 0; i < 3 && (this.deferred || this.running || this.queued); i++) await Promise.allSettled([this.deferred, this.running, this.queued]);
  }

  /** Drops a scheduled retry (a clean stop); the next change writes the whole map again. */
  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private retryLater(): void {
    if (this.retryTimer || ++this.failures > RETRIES) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.sync().catch((e: unknown) => this.onError(e));
    }, RETRY_MS * this.failures);
    this.retryTimer.unref();
  }
}
