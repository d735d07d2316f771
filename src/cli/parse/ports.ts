import { badFlag } from './errors.js';

export const HANDLERS = ['tls', 'http', 'redirect'] as const;
export type Handler = (typeof HANDLERS)[number];

/** One entry of a service group's `services`, as the UKC API takes it. */
export interface PortSpec {
  port: number;
  destination_port: number;
  handlers: Handler[];
}

const FORM = 'expected <public>:<dest>[/<handlers>], e.g. 443:8080/http+tls';

const portNumber = (flag: string, spec: string, s: string): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw badFlag(flag, spec, `port ${s} is not in 1-65535`);
  return n;
};

/** Default handlers when none are given: 443 terminates TLS and speaks HTTP, 80 speaks HTTP, others are TLS-wrapped TCP. */
const defaultHandlers = (port: number): Handler[] => (port === 443 ? ['http', 'tls'] : port === 80 ? ['http'] : ['tls']);

/**
 * `-p/--port` (`kraft cloud`) / `-p/--publish` (`unikraft`): `<public>:<dest>[/h1+h2]`,
 * checked against the platform's handler rules: 443 needs `http+tls`, 80 needs
 * `http` and no `tls`, `redirect` only on 80, any other port `tls` without `http`.
 */
export function parsePort(spec: string, flag = '-p'): PortSpec {
  const m = /^(\d+):(\d+)(?:\/([a-z+]+))?$/.exec(spec.trim());
  if (!m) throw badFlag(flag, spec, FORM);
  const port = portNumber(flag, spec, m[1]!);
  const destination_port = portNumber(flag, spec, m[2]!);
  let handlers: Handler[];
  if (m[3] === undefined) handlers = defaultHandlers(port);
  else {
    const names = m[3].split('+');
    const bad = names.find((h) => !(HANDLERS as readonly string[]).includes(h));
    if (bad !== undefined) throw badFlag(flag, spec, `unknown handler '${bad}'; handlers are ${HANDLERS.join(', ')} joined by +`);
    handlers = [...new Set(names as Handler[])];
  }
  const has = (h: Handler): boolean => handlers.includes(h);
  if (port === 443 && !(has('http') && has('tls'))) throw badFlag(flag, spec, 'port 443 needs the handlers http+tls');
  if (port === 80 && (!has('http') || has('tls'))) throw badFlag(flag, spec, 'port 80 needs the http handler and not tls (80:8080/http or 80:443/http+redirect)');
  if (has('redirect') && port !== 80) throw badFlag(flag, spec, 'redirect is only allowed on port 80 (80:443/http+redirect)');
  if (port !== 80 && port !== 443 && (!has('tls') || has('http'))) throw badFlag(flag, spec, `port ${port} is TLS-wrapped TCP: use /tls (http is only served on 80 and 443)`);
  return { port, destination_port, handlers };
}

/** Several `-p` flags; a public port may appear once. */
export function parsePorts(specs: readonly string[], flag = '-p'): PortSpec[] {
  const out = specs.map((s) => parsePort(s, flag));
  const seen = new Set<number>();
  for (const [i, p] of out.entries()) {
    if (seen.has(p.port)) throw badFlag(flag, specs[i]!, `public port ${p.port} is given twice`);
    seen.add(p.port);
  }
  return out;
}
