/** The node's Linux bridge, created with the gateway address on it (DNS binds that address). */
import { access, writeFile } from 'node:fs/promises';
import { HangarError } from '../lib/errors.js';
import { exec } from '../lib/exec.js';
import { bin } from './bin.js';
import { parseCidr, type Cidr, type NetConfig } from './config.js';

const TIMEOUT_MS = 10_000;

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

const overlaps = (a: Cidr, b: Cidr): boolean => {
  const len = Math.min(a.prefixLength, b.prefixLength);
  return parseCidr(`${a.network}/${len}`).network === parseCidr(`${b.network}/${len}`).network;
};

/** Subnets directly connected to other interfaces that overlap ours (from `ip -4 route` lines). Pure. */
export function conflictingRoutes(routeLines: string, cfg: Pick<NetConfig, 'bridge' | 'subnet'>): string[] {
  const ours = parseCidr(cfg.subnet);
  const out: string[] = [];
  for (const line of routeLines.split('\n')) {
    const m = /^(\d+\.\d+\.\d+\.\d+(?:\/\d+)?)\s.*\bdev (\S+).*\bscope link\b/.exec(line.trim());
    if (!m || m[2] === cfg.bridge) continue;
    const dst = m[1]!.includes('/') ? m[1]! : `${m[1]}/32`;
    if (overlaps(ours, parseCidr(dst))) out.push(line.trim());
  }
  return out;
}

export const bridgeExists = (name: string): Promise<boolean> => exists(`/sys/class/net/${name}`);

/**
 * Creates the bridge if missing, puts `<gateway>/<len>` on it and sets it up:
 * the same state the CNI bridge plugin would reach with isGateway=true, minus
 * enabling the host's ip_forward. IPv6 is disabled on the bridge so instances
 * cannot reach host services over link-local IPv6.
 */
export async function ensureBridge(cfg: NetConfig): Promise<void> {
  const br = cfg.bridge;
  const routes = await exec(bin('ip'), ['-4', '-o', 'route', 'show'], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  const clash = conflictingRoutes(routes.stdout, cfg);
  if (clash.length > 0) {
    throw new HangarError('failed_precondition', `subnet ${cfg.subnet} overlaps a network of another interface: ${clash.join('; ')}`);
  }
  const run = async (args: string[]): Promise<void> => {
    await exec(bin('ip'), args, { timeoutMs: TIMEOUT_MS }).catch((e: unknown) => {
      throw new HangarError('unavailable', `setting up bridge ${br} failed: ${(e as Error).message}`, { cause: e });
    });
  };
  if (!(await bridgeExists(br))) {
    const res = await exec(bin('ip'), ['link', 'add', 'name', br, 'type', 'bridge'], { timeoutMs: TIMEOUT_MS, allowFailure: true });
    if (res.code !== 0 && !(await bridgeExists(br))) {
      throw new HangarError('unavailable', `creating bridge ${br} failed: ${res.stderr.trim()}`);
    }
  }
  if (!(await exists(`/sys/class/net/${br}/bridge`))) {
    throw new HangarError('failed_precondition', `network interface ${br} exists but is not a bridge`);
  }
  try {
    await writeFile(`/proc/sys/net/ipv6/conf/${br}/disable_ipv6`, '1');
  } catch {
    /* IPv6 is off on this host altogether */
  }
  await run(['addr', 'replace', `${cfg.gateway}/${cfg.prefixLength}`, 'dev', br]);
  await run(['link', 'set', br, 'up']);
}

export async function deleteBridge(cfg: NetConfig): Promise<void> {
  if (!(await bridgeExists(cfg.bridge))) return;
  const res = await exec(bin('ip'), ['link', 'del', cfg.bridge], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  if (res.code !== 0 && (await bridgeExists(cfg.bridge))) {
    throw new HangarError('unavailable', `deleting bridge ${cfg.bridge} failed: ${res.stderr.trim()}`);
  }
}
