/**
 * Options of the CNI network driver and every host-global name derived from
 * them (netns names, iptables chains, CNI network name). Pure: no I/O.
 *
 * Two drivers on one host must use a different bridge, subnet and netnsPrefix;
 * everything host-global is derived from those, so they never collide.
 */
import path from 'node:path';
import { invalid } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';

export interface CniNetworkOptions {
  /** Directory owned by the driver (attachment state, IPAM leases, hosts files). */
  stateDir: string;
  /** Linux bridge name, at most 15 characters. Default 'hangar0'. */
  bridge?: string;
  /** IPv4 subnet of the bridge; the gateway (and DNS server) is its first address. Default '10.88.0.0/16'. */
  subnet?: string;
  /** Prefix of netns names (`<prefix>-<first 12 chars of id>`); letters, digits and '_' only. Default 'hangar'. */
  netnsPrefix?: string;
  /** Directory of the CNI plugin binaries. Default '/usr/lib/cni'. */
  cniPath?: string;
  logger?: Logger;
}

export interface NetConfig {
  stateDir: string;
  bridge: string;
  /** Canonical `a.b.c.d/len` (host bits cleared). */
  subnet: string;
  prefixLength: number;
  gateway: string;
  netnsPrefix: string;
  cniPath: string;
  /** CNI network name; also the host-local IPAM directory name. */
  networkName: string;
  /** iptables chain for packets entering the host from the bridge (INPUT). */
  inputChain: string;
  /** iptables chain for packets routed/bridged from the bridge (FORWARD). */
  forwardChain: string;
  /** Comment on the jump rules, so an operator can tell whose rules they are. */
  ruleComment: string;
  ipamDir: string;
  attachmentsDir: string;
  poolDir: string;
  hostsDir: string;
  resolvConf: string;
}

const BRIDGE_RE = /^[A-Za-z0-9_.]{1,15}$/;
const PREFIX_RE = /^[a-z0-9][a-z0-9_]{0,31}$/;

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) throw new Error(`not an IPv4 address: ${ip}`);
    const v = Number(p);
    if (v > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + v;
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  network: string;
  prefixLength: number;
}

export function parseCidr(s: string): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  if (!m) throw new Error(`not an IPv4 CIDR: ${s}`);
  const len = Number(m[2]);
  if (len > 32) throw new Error(`not an IPv4 CIDR: ${s}`);
  const addr = ipToInt(m[1]!);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return { network: intToIp((addr & mask) >>> 0), prefixLength: len };
}

export function inSubnet(ip: string, subnet: Cidr): boolean {
  const mask = subnet.prefixLength === 0 ? 0 : (0xffffffff << (32 - subnet.prefixLength)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === ipToInt(subnet.network);
}

export function resolveConfig(opts: CniNetworkOptions): NetConfig {
  if (!opts.stateDir) throw invalid('stateDir', 'required');
  const stateDir = path.resolve(opts.stateDir);
  const bridge = opts.bridge ?? 'hangar0';
  if (!BRIDGE_RE.test(bridge)) throw invalid('bridge', `must match ${BRIDGE_RE} (at most 15 characters)`);
  const netnsPrefix = opts.netnsPrefix ?? 'hangar';
  if (!PREFIX_RE.test(netnsPrefix)) throw invalid('netnsPrefix', `must match ${PREFIX_RE} (no '-')`);
  let cidr: Cidr;
  try {
    cidr = parseCidr(opts.subnet ?? '10.88.0.0/16');
  } catch (e) {
    throw invalid('subnet', (e as Error).message);
  }
  if (cidr.prefixLength < 8 || cidr.prefixLength > 29) throw invalid('subnet', 'prefix length must be between 8 and 29');
  const gateway = intToIp(ipToInt(cidr.network) + 1);
  const networkName = `hangar-${bridge}`;
  return {
    stateDir,
    bridge,
    subnet: `${cidr.network}/${cidr.prefixLength}`,
    prefixLength: cidr.prefixLength,
    gateway,
    netnsPrefix,
    cniPath: opts.cniPath ?? '/usr/lib/cni',
    networkName,
    inputChain: `HANGAR-IN-${bridge}`,
    forwardChain: `HANGAR-FWD-${bridge}`,
    ruleComment: `hangar:${bridge}`,
    ipamDir: path.join(stateDir, 'ipam'),
    attachmentsDir: path.join(stateDir, 'attachments'),
    poolDir: path.join(stateDir, 'pool'),
    hostsDir: path.join(stateDir, 'hosts'),
    resolvConf: path.join(stateDir, 'resolv.conf'),
  };
}

/** Ids become file and netns names: keep them to a safe alphabet. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export function checkId(id: string): void {
  if (!ID_RE.test(id)) throw invalid('id', `must match ${ID_RE}`);
}

/** Hostnames go into /etc/hosts: letters, digits, '-', '.', '_' only. */
const HOSTNAME_RE = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$/;
export function checkHostname(hostname: string): void {
  if (!HOSTNAME_RE.test(hostname)) throw invalid('hostname', `must match ${HOSTNAME_RE}`);
}

/** Netns of an attachment made directly for `id`: `<prefix>-<first 12 chars of id>`. */
export const netnsNameForId = (cfg: NetConfig, id: string): string => `${cfg.netnsPrefix}-${id.slice(0, 12)}`;

/** Pool netns names use a suffix that can never be a uuid prefix: `<prefix>-pool-<7 hex>`. */
export const POOL_SUFFIX_RE = /^pool-[0-9a-f]{7}$/;
export const poolNetnsName = (cfg: NetConfig, hex7: string): string => `${cfg.netnsPrefix}-pool-${hex7}`;

/**
 * The suffix of a netns name that belongs to this driver, or undefined.
 * Prefixes cannot contain '-', so `<prefix>-` never matches another driver's names.
 */
export function ownNetnsSuffix(cfg: NetConfig, netnsName: string): string | undefined {
  const head = `${cfg.netnsPrefix}-`;
  if (!netnsName.startsWith(head)) return undefined;
  const rest = netnsName.slice(head.length);
  return rest.length >= 1 && rest.length <= 12 ? rest : undefined;
}

export const resolvConfText = (cfg: NetConfig): string => `nameserver ${cfg.gateway}\nsearch internal\noptions ndots:1\n`;

export const hostsText = (ip: string, hostname: string): string =>
  `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${ip}\t${hostname}\n`;
