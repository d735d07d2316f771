/**
 * Service groups: how instances are published. A group lists the public
 * ports (each with the port inside the instance and the handlers that
 * terminate TLS or speak HTTP there) and the domains it answers to. Until
 * the ingress exists these are records only.
 */

export const HANDLERS = ['tls', 'http', 'redirect'] as const;
export type Handler = (typeof HANDLERS)[number];

export interface ServicePort {
  /** The public port. */
  port: number;
  /** The port inside the instance. */
  destinationPort: number;
  handlers: Handler[];
}

export interface GroupDomain {
  /** Lowercase, without a trailing dot. */
  fqdn: string;
}

export interface ServiceGroup {
  uuid: string;
  name: string;
  /** uuid of the user who owns it. */
  owner: string;
  createdAt: string;
  /** false = made inline by an instance create; deleted with its last instance. */
  persistent: boolean;
  services: ServicePort[];
  domains: GroupDomain[];
  /** Concurrent requests per instance before the load balancer wakes another (soft) or refuses (hard). */
  softLimit: number;
  hardLimit: number;
}

/** A certificate named by a domain, as the API gives it. */
export interface CertificateRef {
  uuid?: string;
  name?: string;
}

/** What a caller asks for; defaults and rules are applied by `rules.ts`. */
export interface ServiceInput {
  port: number;
  destinationPort?: number;
  protocol?: string;
  handlers?: string[];
}

export interface DomainInput {
  name: string;
  certificate?: CertificateRef;
}

export interface GroupInput {
  name?: string;
  services: ServiceInput[];
  domains?: DomainInput[];
  softLimit?: number;
  hardLimit?: number;
}

/** A reference to a group: exactly one of uuid or name. */
export type GroupRef = { uuid: string; name?: undefined } | { name: string; uuid?: undefined };
