/**
 * Invokes the CNI `bridge` plugin (with `host-local` IPAM) directly, the way a
 * container runtime would: config JSON on stdin, CNI_* in the environment.
 */
import path from 'node:path';
import { HangarError } from '../lib/errors.js';
import { exec } from '../lib/exec.js';
import type { NetConfig } from './config.js';

export const CNI_IFNAME = 'eth0';
const PLUGIN_TIMEOUT_MS = 15_000;

/**
 * The bridge plugin's network config. isGateway is false on purpose: the driver
 * puts the gateway address on the bridge itself in init() (the DNS server must
 * bind it before any instance exists), and isGateway=true would also switch the
 * host's net.ipv4.ip_forward on, which instances (no outside route) do not need.
 */
export function bridgeConfig(cfg: NetConfig): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: cfg.networkName,
    type: 'bridge',
    bridge: cfg.bridge,
    isGateway: false,
    isDefaultGateway: false,
    ipMasq: false,
    hairpinMode: true,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: cfg.subnet, gateway: cfg.gateway }]],
      // No routes: the kernel's on-link route for the subnet is all instances get.
      routes: [],
      dataDir: cfg.ipamDir,
    },
  };
}

export interface CniAddResult {
  ip: string;
  prefixLength: number;
  gateway: string;
  mac: string;
  /** Host end of the veth pair (a bridge port). */
  hostVeth: string;
}

interface CniInterface {
  name?: string;
  mac?: string;
  sandbox?: string;
}
interface CniIp {
  address?: string;
  gateway?: string;
  interface?: number;
}

/** Picks ip/prefix/gateway/mac/host veth out of a CNI 1.0.0 result. */
export function parseCniResult(json: string, cfg: Pick<NetConfig, 'bridge' | 'gateway'>): CniAddResult {
  let r: { interfaces?: CniInterface[]; ips?: CniIp[] };
  try {
    r = JSON.parse(json) as typeof r;
  } catch {
    throw new HangarError('internal', `CNI bridge plugin printed an unreadable result: ${json.slice(0, 200)}`);
  }
  const ifaces = r.interfaces ?? [];
  const ipEntry = (r.ips ?? []).find((e) => typeof e.address === 'string' && e.address.includes('.'));
  if (!ipEntry?.address) throw new HangarError('internal', 'CNI result has no IPv4 address');
  const [ip, len] = ipEntry.address.split('/');
  const sandboxIface =
    (ipEntry.interface !== undefined ? ifaces[ipEntry.interface] : undefined) ?? ifaces.find((i) => i.sandbox);
  const hostVeth = ifaces.find((i) => !i.sandbox && i.name && i.name !== cfg.bridge);
  if (!sandboxIface?.mac) throw new HangarError('internal', 'CNI result has no sandbox interface');
  if (!hostVeth?.name) throw new HangarError('internal', 'CNI result has no host-side veth');
  return {
    ip: ip!,
    prefixLength: Number(len),
    gateway: ipEntry.gateway ?? cfg.gateway,
    mac: sandboxIface.mac.toLowerCase(),
    hostVeth: hostVeth.name,
  };
}

function pluginEnv(cfg: NetConfig, command: 'ADD' | 'DEL', containerId: string, netnsPath: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: netnsPath,
    CNI_IFNAME: CNI_IFNAME,
    CNI_PATH: cfg.cniPath,
  };
}

/** A CNI error result is `{code, msg, details}` on stdout. */
function pluginError(stdout: string, stderr: string, code: number): string {
  try {
    const e = JSON.parse(stdout) as { msg?: string; details?: string };
    if (e.msg) return e.details ? `${e.msg}: ${e.details}` : e.msg;
  } catch {
    /* not JSON */
  }
  return stderr.trim() || stdout.trim() || `exit ${code}`;
}

async function runPlugin(cfg: NetConfig, command: 'ADD' | 'DEL', containerId: string, netnsPath: string): Promise<string> {
  const plugin = path.join(cfg.cniPath, 'bridge');
  const res = await exec(plugin, [], {
    env: pluginEnv(cfg, command, containerId, netnsPath),
    input: JSON.stringify(bridgeConfig(cfg)),
    timeoutMs: PLUGIN_TIMEOUT_MS,
    allowFailure: true,
  }).catch((e: unknown) => {
    throw new HangarError('unavailable', `CNI ${command} (${plugin}) failed: ${(e as Error).message}`, { cause: e });
  });
  if (res.code !== 0) {
    throw new HangarError('unavailable', `CNI ${command} (${plugin}) failed: ${pluginError(res.stdout, res.stderr, res.code)}`);
  }
  return res.stdout;
}

export async function cniAdd(cfg: NetConfig, containerId: string, netnsPath: string): Promise<CniAddResult> {
  return parseCniResult(await runPlugin(cfg, 'ADD', containerId, netnsPath), cfg);
}

/** Releases the IP lease and deletes the veth. The netns may already be gone. */
export async function cniDel(cfg: NetConfig, containerId: string, netnsPath: string): Promise<void> {
  await runPlugin(cfg, 'DEL', containerId, netnsPath);
}
