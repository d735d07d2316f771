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
 * `iptables-restore --noflush` per change (declared chains are flushed and refilled).
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

/** The instance address → owning user map, and the chains and DNS view that follow from it. */
export class Tenancy {
  private readonly users = new Map<string, string>();
  private running: Promise<void> = Promise.resolve();
  /** Per-user chains on the host: listed once, then known from what each sync wrote (a listing per create cost a process). */
  private present: Set<string> | undefined;

  constructor(private readonly cfg: NetConfig) {}

  /** Records an owner without touching the host (while loading; `sync` follows). */
  note(ip: string, user: string): void {
    this.users.set(ip, user);
  }

  /** Makes `ip` reachable by (and only by) `user`'s instances: call before the instance starts. */
  async claim(ip: string, user: string): Promise<void> {
    if (this.users.get(ip) === user) return;
    this.users.set(ip, user);
    await this.sync();
  }

  async release(ip: string): Promise<void> {
    if (this.users.delete(ip)) await this.sync();
  }

  /** Whether a DNS query from `from` may learn a name of `ip`: same owner, or the host itself (gateway). */
  visible(from: string, ip: string): boolean {
    return from === this.cfg.gateway || (this.users.has(from) && this.users.get(from) === this.users.get(ip));
  }

  /** One `iptables-restore` at a time, each writing the map as it is when it runs. */
  sync(): Promise<void> {
    const run = this.running.catch(() => undefined).then(async () => {
      try {
        this.present ??= new Set(await listUserChains(this.cfg));
        this.present = await applyTenancy(this.cfg, this.users, this.present);
      } catch (e) {
        this.present = undefined; // unsure what is on the host now: list again next time
        throw e;
      }
    });
    this.running = run;
    return run;
  }
}
