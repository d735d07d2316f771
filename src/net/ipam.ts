/**
 * Direct access to host-local IPAM leases, used only as a fallback when the
 * CNI DEL could not run (e.g. the plugins are gone): a lease is a file named
 * after the IP whose first line is the CNI container id.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { NetConfig } from './config.js';

const leaseDir = (cfg: NetConfig): string => path.join(cfg.ipamDir, cfg.networkName);
const isLeaseName = (n: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(n);

/** IPs currently leased, with the container id holding each. */
export async function listLeases(cfg: NetConfig): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = await readdir(leaseDir(cfg));
  } catch {
    return out;
  }
  for (const n of names.filter(isLeaseName)) {
    try {
      const owner = (await readFile(path.join(leaseDir(cfg), n), 'utf8')).split(/\r?\n/)[0]?.trim() ?? '';
      out.set(n, owner);
    } catch {
      /* released meanwhile */
    }
  }
  return out;
}

export async function releaseLeases(cfg: NetConfig, containerId: string): Promise<void> {
  for (const [ip, owner] of await listLeases(cfg)) {
    if (owner === containerId) await rm(path.join(leaseDir(cfg), ip), { force: true });
  }
}
