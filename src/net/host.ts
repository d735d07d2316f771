/**
 * Reading the host's truth about this driver's objects, and sweeping what a
 * crash can leave behind: temp files of interrupted atomic writes, IP leases
 * whose netns is gone. Used at init, so that a kill -9 leaves nothing for good.
 */
import { access, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../lib/exec.js';
import { bin } from './bin.js';
import { CNI_IFNAME } from './cni.js';
import type { NetConfig } from './config.js';
import { listLeases } from './ipam.js';
import type { NetSandbox } from './state.js';
import type { NetworkAttachment } from '../core/ports/network.js';
import { netnsPath } from './netns.js';

const TIMEOUT_MS = 10_000;

export async function pathExists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** Removes `*.tmp` files (half-done atomic writes) from the driver's state folders; returns how many. */
export async function sweepTmpFiles(cfg: NetConfig): Promise<number> {
  let n = 0;
  for (const dir of [cfg.stateDir, cfg.attachmentsDir, cfg.poolDir, cfg.hostsDir]) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((x) => x.endsWith('.tmp'))) {
      await rm(path.join(dir, name), { force: true });
      n++;
    }
  }
  return n;
}

/**
 * Removes leases held by a container id (= netns name) that is neither a netns
 * on the host nor one the driver is making (`inUse`): CNI ADD leased the IP and
 * the node died before the netns got recorded, or the netns went away without a DEL.
 */
export async function sweepLeases(cfg: NetConfig, hostNetns: ReadonlySet<string>, inUse: ReadonlySet<string>): Promise<number> {
  let n = 0;
  for (const [ip, owner] of await listLeases(cfg)) {
    if (hostNetns.has(owner) || inUse.has(owner)) continue;
    await rm(path.join(cfg.ipamDir, cfg.networkName, ip), { force: true });
    n++;
  }
  return n;
}

interface IpAddrJson {
  ifname?: string;
  address?: string;
  link_index?: number;
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

/**
 * The sandbox end of a netns as the kernel sees it: eth0's IPv4 address, MAC,
 * and the host veth it is paired with (the bridge port whose ifindex is eth0's
 * peer). Undefined when the netns or its eth0 is gone or has no address.
 */
export async function readSandbox(cfg: NetConfig, netnsName: string): Promise<NetSandbox | undefined> {
  const res = await exec(bin('ip'), ['-n', netnsName, '-j', 'addr', 'show', 'dev', CNI_IFNAME], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  if (res.code !== 0) return undefined;
  let eth0: IpAddrJson | undefined;
  try {
    eth0 = (JSON.parse(res.stdout) as IpAddrJson[])[0];
  } catch {
    return undefined;
  }
  const v4 = eth0?.addr_info?.find((a) => a.family === 'inet' && a.local);
  if (!eth0?.address || !v4?.local || v4.prefixlen === undefined || eth0.link_index === undefined) return undefined;
  const hostVeth = await vethByIndex(cfg, eth0.link_index);
  if (!hostVeth) return undefined;
  return { netnsName, ip: v4.local, prefixLength: v4.prefixlen, gateway: cfg.gateway, mac: eth0.address.toLowerCase(), hostVeth };
}

/** The bridge port with this ifindex (a veth's peer index names its host end). */
async function vethByIndex(cfg: NetConfig, ifindex: number): Promise<string | undefined> {
  const ports = await readdir(`/sys/class/net/${cfg.bridge}/brif`).catch(() => [] as string[]);
  for (const p of ports) {
    const idx = await readFile(`/sys/class/net/${p}/ifindex`, 'utf8').catch(() => '');
    if (Number(idx.trim()) === ifindex) return p;
  }
  return undefined;
}

/** Byte/packet counters of a host veth, as the instance sees them (host rx = instance tx). */
export async function vethCounters(hostVeth: string): Promise<{ rxBytes: number; rxPackets: number; txBytes: number; txPackets: number }> {
  const dir = `/sys/class/net/${hostVeth}/statistics`;
  const read = async (f: string): Promise<number> => Number((await readFile(path.join(dir, f), 'utf8')).trim());
  const [rxBytes, rxPackets, txBytes, txPackets] = await Promise.all([read('tx_bytes'), read('tx_packets'), read('rx_bytes'), read('rx_packets')]);
  return { rxBytes, rxPackets, txBytes, txPackets };
}

/** What the runtime needs of a sandbox's network: where to join it and the files to bind-mount. */
export function attachmentOf(cfg: NetConfig, id: string, sb: NetSandbox, hosts: string): NetworkAttachment {
  return { id, netnsPath: netnsPath(sb.netnsName), ip: sb.ip, prefixLength: sb.prefixLength, gateway: sb.gateway, mac: sb.mac, resolvConf: cfg.resolvConf, hosts };
}
