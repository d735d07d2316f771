/** Named network namespaces (`ip netns`, bind mounts under /run/netns). */
import { readdir, access } from 'node:fs/promises';
import path from 'node:path';
import { HangarError } from '../lib/errors.js';
import { exec } from '../lib/exec.js';
import { bin } from './bin.js';

export const NETNS_DIR = '/run/netns';
const TIMEOUT_MS = 10_000;

export const netnsPath = (name: string): string => path.join(NETNS_DIR, name);

export async function netnsExists(name: string): Promise<boolean> {
  try {
    await access(netnsPath(name));
    return true;
  } catch {
    return false;
  }
}

/** Names of every named netns on the host (cheap: a readdir, no process). */
export async function netnsList(): Promise<string[]> {
  try {
    return await readdir(NETNS_DIR);
  } catch {
    return [];
  }
}

export async function netnsAdd(name: string): Promise<void> {
  await exec(bin('ip'), ['netns', 'add', name], { timeoutMs: TIMEOUT_MS }).catch((e: unknown) => {
    throw new HangarError('unavailable', `creating netns ${name} failed: ${(e as Error).message}`, { cause: e });
  });
}

/** Deletes the netns; a missing one is fine. */
export async function netnsDel(name: string): Promise<void> {
  const res = await exec(bin('ip'), ['netns', 'del', name], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  if (res.code !== 0 && (await netnsExists(name))) {
    throw new HangarError('unavailable', `deleting netns ${name} failed: ${res.stderr.trim()}`);
  }
}

/**
 * Brings `lo` up inside the netns and lets unprivileged users (root in a user
 * namespace) bind ports below 1024. Both run in parallel: two short processes.
 */
export async function setupInside(name: string): Promise<void> {
  await Promise.all([
    exec(bin('ip'), ['-n', name, 'link', 'set', 'lo', 'up'], { timeoutMs: TIMEOUT_MS }),
    // /proc/sys/net follows the writer's netns, so entering only the net namespace is enough.
    exec(bin('nsenter'), [`--net=${netnsPath(name)}`, bin('sysctl'), '-q', '-w', 'net.ipv4.ip_unprivileged_port_start=0'], {
      timeoutMs: TIMEOUT_MS,
    }),
  ]).catch((e: unknown) => {
    throw new HangarError('unavailable', `setting up netns ${name} failed: ${(e as Error).message}`, { cause: e });
  });
}
