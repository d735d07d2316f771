import { invalid } from '../../lib/errors.js';
import { isDnsLabel } from '../../lib/ids.js';
import { HANDLERS, type DomainInput, type GroupDomain, type GroupInput, type Handler, type ServiceInput, type ServicePort } from './group.js';

/**
 * The contract's rules for a group's ports, handlers, domains and limits
 * (ukc-api.md §3.2). Every check throws invalid_argument naming the field as
 * the request spelled it, under `prefix` (e.g. `service_group.` inline).
 */

export const MAX_SERVICES = 32;
export const MAX_DOMAINS = 32;
export const MAX_LIMIT = 65535;
/** The model requires both limits; unset, they are the loosest the ingress will apply (hangar's choice, docs/compat.md). */
export const DEFAULT_SOFT_LIMIT = 1;
export const DEFAULT_HARD_LIMIT = MAX_LIMIT;

const isPort = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;

/** Handlers a port gets when the request names none: what the port's rule demands. */
function defaultHandlers(port: number): Handler[] {
  if (port === 443) return ['tls', 'http'];
  if (port === 80) return ['http'];
  return ['tls'];
}

/** Port 80: `http`, no `tls`; 443: `tls`+`http`; `redirect` only on 80; others `tls` without `http`. */
function checkHandlers(port: number, handlers: readonly Handler[], field: string): void {
  const has = (h: Handler): boolean => handlers.includes(h);
  if (port === 80) {
    if (!has('http') || has('tls')) throw invalid(field, "port 80 must have 'http' and not 'tls'");
    return;
  }
  if (has('redirect')) throw invalid(field, "'redirect' is allowed only on port 80");
  if (port === 443) {
    if (!has('tls') || !has('http')) throw invalid(field, "port 443 must have 'tls' and 'http'");
    return;
  }
  if (!has('tls') || has('http')) throw invalid(field, `port ${port} must have 'tls' and not 'http'`);
}

export function checkService(s: ServiceInput, field: string): ServicePort {
  if (!isPort(s.port)) throw invalid(`${field}.port`, 'must be an integer from 1 to 65535');
  const destinationPort = s.destinationPort ?? s.port;
  if (!isPort(destinationPort)) throw invalid(`${field}.destination_port`, 'must be an integer from 1 to 65535');
  if (s.protocol !== undefined && s.protocol !== 'tcp') throw invalid(`${field}.protocol`, "only 'tcp' is supported");
  let handlers: Handler[];
  if (s.handlers === undefined) handlers = defaultHandlers(s.port);
  else {
    handlers = [];
    s.handlers.forEach((h, i) => {
      if (!(HANDLERS as readonly string[]).includes(h)) throw invalid(`${field}.handlers[${i}]`, `must be one of ${HANDLERS.join(', ')}`);
      if (handlers.includes(h as Handler)) throw invalid(`${field}.handlers[${i}]`, `'${h}' is given twice`);
      handlers.push(h as Handler);
    });
  }
  checkHandlers(s.port, handlers, `${field}.handlers`);
  return { port: s.port, destinationPort, handlers };
}

/** At least one service, ports unique in the group. */
export function checkServices(services: readonly ServiceInput[], prefix = ''): ServicePort[] {
  const field = `${prefix}services`;
  if (services.length === 0) throw invalid(field, 'give at least one service');
  if (services.length > MAX_SERVICES) throw invalid(field, `at most ${MAX_SERVICES} services`);
  const seen = new Set<number>();
  return services.map((s, i) => {
    const out = checkService(s, `${field}[${i}]`);
    if (seen.has(out.port)) throw invalid(`${field}[${i}].port`, `port ${out.port} is given twice`);
    seen.add(out.port);
    return out;
  });
}

/** Hostname syntax: dot-separated DNS labels, 253 characters at most, not all digits at the end (no IP addresses). */
export function isFqdn(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.split('.');
  if (!labels.every(isDnsLabel)) return false;
  return !/^\d+$/.test(labels[labels.length - 1]!);
}

/**
 * A domain's fqdn: a name ending in `.` is used as given (without the dot);
 * any other name is a name under the node's domain.
 */
export function fqdnOf(name: string, baseDomain: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : `${lower}.${baseDomain}`;
}

/**
 * Domains with their fqdns, checked for syntax and repeats. Certificates do
 * not exist on this node yet, so any certificate a domain names is unknown.
 */
export function checkDomains(domains: readonly DomainInput[], baseDomain: string, field = 'domains'): GroupDomain[] {
  if (domains.length > MAX_DOMAINS) throw invalid(field, `at most ${MAX_DOMAINS} domains`);
  const seen = new Set<string>();
  return domains.map((d, i) => {
    const f = `${field}[${i}]`;
    const fqdn = fqdnOf(d.name, baseDomain);
    if (d.name === '.' || !isFqdn(fqdn)) throw invalid(`${f}.name`, `'${d.name}' is not a valid domain name`);
    if (seen.has(fqdn)) throw invalid(`${f}.name`, `'${fqdn}' is given twice`);
    seen.add(fqdn);
    if (d.certificate !== undefined) throw invalid(`${f}.certificate`, 'no such certificate (this node has no certificates yet)');
    return { fqdn };
  });
}

export function checkLimits(soft: number | undefined, hard: number | undefined, prefix = ''): void {
  for (const [k, v] of [['soft_limit', soft], ['hard_limit', hard]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > MAX_LIMIT)) throw invalid(`${prefix}${k}`, `must be an integer from 1 to ${MAX_LIMIT}`);
  }
  if (soft !== undefined && hard !== undefined && soft > hard) throw invalid(`${prefix}soft_limit`, `must not be above hard_limit (${hard})`);
}

export function checkGroupName(name: string, prefix = ''): void {
  if (!isDnsLabel(name)) throw invalid(`${prefix}name`, `'${name}' is not a DNS label (lowercase letters, digits and '-', at most 63)`);
}

export interface CheckedGroup {
  name?: string;
  services: ServicePort[];
  domains: GroupDomain[];
  softLimit: number;
  hardLimit: number;
}

/** Every rule of a create request, in field order. */
export function checkGroup(input: GroupInput, baseDomain: string, prefix = ''): CheckedGroup {
  if (input.name !== undefined) checkGroupName(input.name, prefix);
  const services = checkServices(input.services, prefix);
  const domains = checkDomains(input.domains ?? [], baseDomain, `${prefix}domains`);
  checkLimits(input.softLimit, input.hardLimit, prefix);
  const softLimit = input.softLimit ?? Math.min(DEFAULT_SOFT_LIMIT, input.hardLimit ?? DEFAULT_HARD_LIMIT);
  const hardLimit = input.hardLimit ?? Math.max(DEFAULT_HARD_LIMIT, softLimit);
  return { ...(input.name !== undefined ? { name: input.name } : {}), services, domains, softLimit, hardLimit };
}
