/** One instance's network sandbox on the host: a named netns with eth0 on the bridge (CNI ADD) and lo up. */
import type { Logger } from '../lib/log.js';
import { cniAdd, cniDel } from './cni.js';
import type { NetConfig } from './config.js';
import { releaseLeases } from './ipam.js';
import { netnsAdd, netnsDel, netnsExists, netnsPath, setupInside } from './netns.js';
import type { NetSandbox } from './state.js';

/** netns + CNI ADD + lo/sysctl; on failure everything made is undone. */
export async function createSandbox(cfg: NetConfig, log: Logger, name: string): Promise<NetSandbox> {
  const nsPath = netnsPath(name);
  try {
    if (await netnsExists(name)) await teardownSandbox(cfg, log, name); // a leftover of ours (prefix-owned)
    await netnsAdd(name);
    const [add, inside] = await Promise.allSettled([cniAdd(cfg, name, nsPath), setupInside(name)]);
    if (add.status === 'rejected') throw add.reason;
    if (inside.status === 'rejected') throw inside.reason;
    return { netnsName: name, ...add.value };
  } catch (e) {
    await teardownSandbox(cfg, log, name).catch((err: unknown) => log.warn({ err, netns: name }, 'cleanup of a half-made netns failed'));
    throw e;
  }
}

/** CNI DEL (lease + veth) then netns del; tolerant of anything already gone. */
export async function teardownSandbox(cfg: NetConfig, log: Logger, name: string): Promise<void> {
  try {
    await cniDel(cfg, name, netnsPath(name));
  } catch (e) {
    log.debug({ err: e, netns: name }, 'CNI DEL failed; releasing the lease directly');
    await releaseLeases(cfg, name);
  }
  await netnsDel(name);
}
