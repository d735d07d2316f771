/**
 * Which registries the node pulls from, and which addresses it connects to
 * for them. The node runs as root on the host network: an image reference
 * naming any host would otherwise make it a proxy into the host's own
 * services and networks (and its errors a port scanner).
 *
 * - A registry host may be pulled from when it is the central registry or
 *   on the allow-list (HANGAR_ALLOWED_REGISTRIES; default: well-known public
 *   registries). Hosts are compared as `host[:port]`, lower case; an entry
 *   without a port allows any port.
 * - Configured hosts (central; entries the admin set explicitly) may be on any
 *   address. Every other connection (default-list hosts, their redirects,
 *   token realms) is refused when the address is loopback, unspecified,
 *   link-local, multicast, or in one of the node's own subnets (its
 *   interfaces' and the instances').
 * - Of an ImageSpec's headers only registry-auth ones are sent.
 */
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { registryBaseUrl } from '../distribution/transport.js';

/** Public registries a node may pull from when HANGAR_ALLOWED_REGISTRIES is not set (Docker Hub references go to central). */
export const DEFAULT_ALLOWED_REGISTRIES: readonly string[] = ['ghcr.io', 'quay.io', 'gcr.io', 'registry.k8s.io', 'public.ecr.aws', 'mcr.microsoft.com', 'index.unikraft.io', 'unikraft.org'];

/** The ImageSpec headers forwarded to a registry: credentials, nothing else. */
export const REGISTRY_AUTH_HEADERS: ReadonlySet<string> = new Set(['authorization']);

export interface EgressOptions {
  /** The central registry's URL or `host[:port]`. */
  central?: string | undefined;
  /** The admin's list (HANGAR_ALLOWED_REGISTRIES); undefined = DEFAULT_ALLOWED_REGISTRIES. */
  allowed?: readonly string[] | undefined;
  /** The instances' subnet (HANGAR_SUBNET), refused like the host's own. */
  subnets?: readonly string[];
}

const hostOf = (registry: string): string => new URL(registryBaseUrl(registry)).host.toLowerCase();
const bare = (host: string): string => host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');

export class RegistryEgress {
  private readonly central: string | undefined;
  private readonly allowed: readonly string[];
  /** Hosts the admin named: any address is theirs to choose. */
  private readonly configured: Set<string>;
  private readonly blocked = new BlockList();

  constructor(o: EgressOptions = {}) {
    this.central = o.central !== undefined ? hostOf(o.central) : undefined;
    this.allowed = (o.allowed ?? DEFAULT_ALLOWED_REGISTRIES).map((h) => h.toLowerCase());
    this.configured = new Set([...(this.central ? [this.central] : []), ...(o.allowed ?? []).map((h) => h.toLowerCase())]);
    for (const [net, prefix] of [['127.0.0.0', 8], ['0.0.0.0', 8], ['169.254.0.0', 16], ['224.0.0.0', 4], ['255.255.255.255', 32]] as const) this.blocked.addSubnet(net, prefix, 'ipv4');
    for (const [net, prefix] of [['::1', 128], ['::', 128], ['fe80::', 10], ['ff00::', 8]] as const) this.blocked.addSubnet(net, prefix, 'ipv6');
    for (const cidr of o.subnets ?? []) {
      const [net, prefix] = cidr.split('/');
      if (net && prefix && isIP(net)) this.blocked.addSubnet(net, Number(prefix), isIP(net) === 6 ? 'ipv6' : 'ipv4');
    }
    for (const addrs of Object.values(networkInterfaces())) {
      for (const a of addrs ?? []) {
        const prefix = Number(a.cidr?.split('/')[1] ?? (a.family === 'IPv6' ? 128 : 32));
        this.blocked.addSubnet(a.address.replace(/%.*$/, ''), prefix, a.family === 'IPv6' ? 'ipv6' : 'ipv4');
      }
    }
  }

  /** True when `registry` (`host[:port]` or URL) is one the node may pull from. */
  mayPullFrom(registry: string): boolean {
    const host = hostOf(registry);
    if (host === this.central) return true;
    return this.allowed.some((a) => a === host || (!/:\d+$/.test(a) && a === bare(host)));
  }

  /** An entry without a port names the host on any port. */
  private isConfigured(host: string): boolean {
    const h = host.toLowerCase();
    return [...this.configured].some((c) => c === h || (!/:\d+$/.test(c) && c === bare(h)));
  }

  /** True when the node may connect to `address` for `host` (a registry, its token realm, a redirect target). */
  addressAllowed(host: string, address: string): boolean {
    if (this.isConfigured(host)) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const ip = mapped ?? address;
    const family = isIP(ip);
    if (family === 0) return false;
    return !this.blocked.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** The registry-auth headers of an ImageSpec's `headers` (names compared case-insensitively). */
  static authHeaders(headers: Record<string, string> | undefined): Record<string, string> | undefined {
    if (!headers) return undefined;
    const out = Object.fromEntries(Object.entries(headers).filter(([k]) => REGISTRY_AUTH_HEADERS.has(k.toLowerCase())));
    return Object.keys(out).length > 0 ? out : undefined;
  }
}
