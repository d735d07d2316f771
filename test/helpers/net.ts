/** Real-kernel network test helpers: unique bridge/prefix/subnet per test, and teardown that leaves nothing. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CniNetwork } from '../../src/net/driver.js';
import { exec } from '../../src/lib/exec.js';

export const sh = (file: string, args: string[], timeoutMs = 8000) => exec(file, args, { timeoutMs, allowFailure: true });

/** A subnet 10.2xx.y.0/24 that no route on this host overlaps. */
export async function freeSubnet(): Promise<string> {
  const routes = (await sh('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout;
  for (let i = 0; i < 50; i++) {
    const a = 200 + Math.floor(Math.random() * 55);
    const b = Math.floor(Math.random() * 256);
    if (!routes.includes(`10.${a}.${b}.`) && !routes.includes(`10.${a}.0.0/16`)) return `10.${a}.${b}.0/24`;
  }
  throw new Error('no free subnet found');
}

export interface Names {
  tag: string;
  bridge: string;
  prefix: string;
  subnet: string;
  stateDir: string;
}

export async function freshNames(letter: string): Promise<Names> {
  const tag = randomBytes(2).toString('hex');
  return {
    tag,
    bridge: `hn${letter}${tag}`,
    prefix: `hn${letter}${tag}`,
    subnet: await freeSubnet(),
    stateDir: await mkdtemp(path.join(os.tmpdir(), `hangar-net-${letter}-`)),
  };
}

export const netnsWithPrefix = async (prefix: string): Promise<string[]> =>
  (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith(`${prefix}-`));

export const linkExists = (name: string): boolean => existsSync(`/sys/class/net/${name}`);

/** Destroys a test's driver, then removes anything a half-failed destroy left (netns, bridge, state). */
export async function teardownNet(driver: CniNetwork | undefined, n: Names): Promise<void> {
  try {
    await driver?.destroy();
  } finally {
    for (const ns of await netnsWithPrefix(n.prefix)) await sh('ip', ['netns', 'del', ns]);
    if (linkExists(n.bridge)) await sh('ip', ['link', 'del', n.bridge]);
    await rm(n.stateDir, { recursive: true, force: true });
  }
}

