import type { Instance } from '../instance.js';
import type { ServiceGroup, ServicePort } from './group.js';

/**
 * The ingress's view of the service groups: which group answers a domain on
 * a public port, and which of its instances can take a request. Built from
 * records only (no I/O), so the ingress stays a thin adapter over it.
 */

export interface Backend {
  /** Instance uuid: the balancer counts requests per instance. */
  uuid: string;
  ip: string;
}

export interface Route {
  group: Pick<ServiceGroup, 'uuid' | 'owner' | 'softLimit' | 'hardLimit'>;
  service: ServicePort;
  /** The group's running instances with an address, oldest first. */
  backends: Backend[];
}

/** `unknown`: no group holds the name, or its group does not publish this port. */
export type RouteLookup = { kind: 'unknown' } | { kind: 'route'; route: Route };

/** What the node reads the table from: every group and every instance record. */
export interface RouteSource {
  groups(): Promise<ServiceGroup[]>;
  instances(): Promise<Instance[]>;
}

export class RouteTable {
  private readonly byDomain = new Map<string, { group: ServiceGroup; backends: Backend[] }>();
  /** Every public port some group publishes, with the handlers of its first publisher. */
  readonly ports: ReadonlyMap<number, ServicePort['handlers']>;

  constructor(groups: readonly ServiceGroup[], instances: readonly Instance[]) {
    const backends = new Map<string, Backend[]>();
    for (const i of instances) {
      // Only a running instance takes requests; standby wake-up comes with scale-to-zero.
      if (i.serviceGroup === undefined || i.state !== 'running' || !i.network) continue;
      const list = backends.get(i.serviceGroup) ?? [];
      list.push({ uuid: i.uuid, ip: i.network.ip });
      backends.set(i.serviceGroup, list);
    }
    const ports = new Map<number, ServicePort['handlers']>();
    for (const g of groups) {
      for (const d of g.domains) this.byDomain.set(d.fqdn, { group: g, backends: backends.get(g.uuid) ?? [] });
      for (const s of g.services) if (!ports.has(s.port)) ports.set(s.port, s.handlers);
    }
    this.ports = ports;
  }

  /** The route for a name (SNI or Host, any case, an optional trailing dot or port already removed) on a public port. */
  lookup(host: string, port: number): RouteLookup {
    const e = this.byDomain.get(normalizeHost(host));
    const service = e?.group.services.find((s) => s.port === port);
    if (!e || !service) return { kind: 'unknown' };
    const { uuid, owner, softLimit, hardLimit } = e.group;
    return { kind: 'route', route: { group: { uuid, owner, softLimit, hardLimit }, service, backends: e.backends } };
  }

  /** Whether a name is one of the node's domains (any port): the CA issues certificates only for these. */
  hasDomain(host: string): boolean {
    return this.byDomain.has(normalizeHost(host));
  }

  static async load(source: RouteSource): Promise<RouteTable> {
    const [groups, instances] = await Promise.all([source.groups(), source.instances()]);
    return new RouteTable(groups, instances);
  }
}

/** Lowercase, without a trailing dot or a `:port` (a Host header carries one; IPv6 literals never match a domain). */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  const colon = h.lastIndexOf(':');
  if (colon >= 0 && !h.startsWith('[')) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}
