import type { ServiceGroup } from '../../core/services/group.js';
import type { GroupMember } from '../../core/ports/store.js';

/** ServiceGroup → the UKC wire object (`ServiceGroup` in the platform OpenAPI). */
export function groupToWire(g: ServiceGroup, members: GroupMember[], details = true): Record<string, unknown> {
  if (!details) return { status: 'success', uuid: g.uuid, name: g.name };
  return {
    status: 'success',
    uuid: g.uuid,
    name: g.name,
    created_at: g.createdAt,
    persistent: g.persistent,
    autoscale: false,
    soft_limit: g.softLimit,
    hard_limit: g.hardLimit,
    services: g.services.map((s) => ({ port: s.port, destination_port: s.destinationPort, protocol: 'tcp', handlers: s.handlers })),
    domains: g.domains.map((d) => ({ fqdn: d.fqdn })),
    instances: members.map((m) => ({ uuid: m.uuid, name: m.name })),
  };
}

/** The group as an instance object shows it: `service_group {uuid, name, domains[{fqdn}]}`. */
export function instanceGroupToWire(g: ServiceGroup): Record<string, unknown> {
  return { uuid: g.uuid, name: g.name, domains: g.domains.map((d) => ({ fqdn: d.fqdn })) };
}
