import { normalizeHost, type RouteTable } from '../core/services/routes.js';
import type { LeastConnections } from './balancer.js';

export interface RequestFacts {
  /** The Host header as sent (may carry a port); undefined when absent. */
  host: string | undefined;
  /** The public port the request came in on (not the mapped local one). */
  publicPort: number;
  /** The SNI name of the TLS connection; undefined on plain HTTP. */
  sni: string | undefined;
  secure: boolean;
  /** Path and query as sent. */
  url: string;
}

export type Decision =
  | { kind: 'bad_request' }
  | { kind: 'not_found' }
  /** 421: the Host names another domain than the TLS connection was made for. */
  | { kind: 'misdirected' }
  | { kind: 'redirect'; location: string }
  | { kind: 'unavailable'; why: 'no_instance' | 'hard_limit' }
  | { kind: 'proxy'; target: { host: string; port: number }; release: () => void };

/**
 * Where one request goes. Unknown names answer 404 and a Host other than
 * the connection's SNI answers 421, so a request can only reach the group
 * that holds the name it was sent to; a chosen backend must be `release`d
 * when its response ends.
 */
export function decide(table: RouteTable, balancer: LeastConnections, r: RequestFacts): Decision {
  if (r.host === undefined || r.host === '') return { kind: 'bad_request' };
  const host = normalizeHost(r.host);
  if (r.sni !== undefined && normalizeHost(r.sni) !== host) return { kind: 'misdirected' };
  const look = table.lookup(host, r.publicPort);
  if (look.kind === 'unknown') return { kind: 'not_found' };
  const { route } = look;
  if (!r.secure && route.service.handlers.includes('redirect')) {
    return { kind: 'redirect', location: `https://${host}${r.url.startsWith('/') ? r.url : `/${r.url}`}` };
  }
  const pick = balancer.pick(route);
  if (pick.kind === 'unavailable') return pick;
  return { kind: 'proxy', target: { host: pick.backend.ip, port: route.service.destinationPort }, release: pick.release };
}
