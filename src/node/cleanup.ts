import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HangarError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { CniNetwork } from '../net/driver.js';
import { RuncDriver } from '../runtime/runc/driver.js';
import type { NodeConfig } from './config.js';
import { takePidLock } from './pidlock.js';

const CGROUP_ROOT = '/sys/fs/cgroup';

export interface CleanupResult {
  /** Sandboxes stopped and removed (only with force). */
  sandboxes: number;
  /** cgroup folders removed. */
  cgroups: number;
}

/**
 * `hangar node cleanup`: leaves the host as it was before the node first
 * started: sandboxes and their runc state and host mounts (writable roots,
 * sysfs, shared image mounts and their loop devices), netns, veths, leases, the bridge,
 * the iptables/ip6tables chains and jumps, the cgroup folders under the node's
 * cgroup parent. The node's data (database, images, logs, token) stays in the
 * home: it is the user's, not a host object. Refuses while the node runs (it
 * would make them again) and, unless `force`, while any sandbox is live.
 */
export async function cleanupNode(config: NodeConfig, opts: { force: boolean; logger: Logger }): Promise<CleanupResult> {
  const release = takePidLock(config.home); // throws if a node runs with this home
  try {
    const runtime = new RuncDriver({ stateDir: join(config.home, 'run'), shimPath: join(config.binDir, 'hangar-shim'), cgroupParent: config.cgroupParent, logger: opts.logger });
    const sandboxes = await runtime.list();
    const live = sandboxes.filter((s) => s.state !== 'stopped');
    if (live.length > 0 && !opts.force) {
      throw new HangarError('failed_precondition', `${live.length} instance(s) still run on this node (${live.map((s) => s.id).slice(0, 5).join(', ')}); stop them or use --force`);
    }
    for (const s of sandboxes) await runtime.remove(s.id);
    // Roots and sysfs mounts went with their sandboxes; a shared image mount whose last user vanished mid-remove may not have.
    await runtime.sweepMounts();
    const network = new CniNetwork({ stateDir: join(config.home, 'net'), bridge: config.network.bridge, subnet: config.network.subnet, netnsPrefix: config.network.netnsPrefix, logger: opts.logger });
    await network.destroy();
    const cgroups = await removeCgroupTree(config.cgroupParent);
    await rm(join(config.home, 'run'), { recursive: true, force: true });
    opts.logger.info({ sandboxes: sandboxes.length, cgroups }, 'node cleaned up');
    return { sandboxes: sandboxes.length, cgroups };
  } finally {
    release();
  }
}

/** Removes `<controller><parent>` and every folder below it, deepest first, in every mounted hierarchy. */
async function removeCgroupTree(parent: string): Promise<number> {
  const rel = parent.replace(/^\/+|\/+$/g, '');
  // Never the hierarchy roots themselves.
  if (rel === '' || rel.split('/').includes('..')) throw new HangarError('invalid_argument', `cgroup parent ${parent} is not a folder below the root`, { field: 'cgroupParent' });
  let n = 0;
  const controllers = await readdir(CGROUP_ROOT, { withFileTypes: true }).catch(() => []);
  for (const c of controllers) {
    if (!c.isDirectory()) continue;
    n += await removeTree(join(CGROUP_ROOT, c.name, rel));
  }
  return n;
}

async function removeTree(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0; // absent in this hierarchy
  }
  let n = 0;
  // cgroupfs lists control files as files; only folders are cgroups, and rmdir of an empty cgroup removes its files too.
  for (const e of entries) if (e.isDirectory()) n += await removeTree(join(dir, e.name));
  await rmdir(dir);
  return n + 1;
}
