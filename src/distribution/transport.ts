/**
 * HTTP to one registry for the distribution client: transport (http for
 * loopback hosts and when the URL says so, https otherwise; one keep-alive
 * agent; redirects followed, credentials never sent to another host) and auth
 * (anonymous first; on 401 the `WWW-Authenticate` challenge decides: `Basic`
 * → the credentials; `Bearer realm=…,service=…,scope=…` → a token from the
 * realm, cached per scope until it expires).
 *
 * Errors are HangarErrors: 401 → unauthenticated, 403 → permission_denied,
 * 404 → not_found, other 4xx → invalid_argument, 5xx and network → unavailable;
 * messages carry the registry's OCI error code and message.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HangarError, type ErrorKind } from '../lib/errors.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** `http://127.0.0.1:5000`, `https://r.example.com`, or `host[:port]` (http on loopback, https otherwise). */
  registry: string;
  credentials?: RegistryCredentials | undefined;
  /** Extra headers sent with every registry request (not to token realms or redirects elsewhere). */
  headers?: Record<string, string> | undefined;
  /** Limit for a request's response to start, and for a body to stall (ms). Default 30 s. */
  timeoutMs?: number;
  /** Aborts every request in flight and every later one. */
  signal?: AbortSignal | undefined;
  userAgent?: string;
  /**
   * Asked for every address a request would connect to (`host` as the URL
   * names it: the registry, its token realm, a redirect target); false
   * refuses the connection before it is made.
   */
  allowAddress?: ((host: string, address: string) => boolean) | undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for http.request that only hands out addresses `allow` accepts. */
function guardedLookup(allow: (address: string) => boolean) {
  return (hostname: string, options: LookupOptions, cb: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addrs) => {
      if (err) return cb(err, []);
      const ok = addrs.filter((a) => allow(a.address));
      if (ok.length === 0) return cb(Object.assign(new Error(`${hostname} has no address this node may connect to`), { code: 'EADDRNOTALLOWED' }), []);
      if (options.all) cb(null, ok);
      else cb(null, ok[0]!.address, ok[0]!.family);
    });
  };
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 5;

const isLoopback = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
};

/** `host[:port]` or a URL → the base URL (no trailing slash). */
export function registryBaseUrl(registry: string): string {
  const r = registry.replace(/\/+$/, '');
  if (/^https?:\/\//i.test(r)) return r.replace(/\/v2$/, '');
  const host = r.replace(/:\d+$/, '');
  return `${isLoopback(host) ? 'http' : 'https'}://${r}`;
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\S+)\s*(.*)$/.exec(header);
  const scheme = (m?.[1] ?? '').toLowerCase();
  const params: Record<string, string> = {};
  const re = /([a-zA-Z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const p of (m?.[2] ?? '').matchAll(re)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  return { scheme, params };
}

function kindOfStatus(status: number): ErrorKind {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'permission_denied';
  if (status === 404) return 'not_found';
  if (status === 408 || status === 429 || status >= 500) return 'unavailable';
  if (status === 416) return 'invalid_argument';
  return status >= 400 ? 'invalid_argument' : 'internal';
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

type Body = Buffer | Readable | undefined;

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Body;
  /** Scopes the request needs (`repository:x:pull`). */
  scopes: string[];
  /** Statuses that are not errors (default: 2xx). */
  ok?: (status: number) => boolean;
  /** Do not follow redirects (upload Location answers). */
  noRedirect?: boolean;
}

export async function readAll(res: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      res.destroy();
      throw new HangarError('invalid_argument', `registry response is larger than ${max} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export class RegistryTransport {
  readonly baseUrl: string;
  readonly base: URL;
  private readonly creds: RegistryCredentials | undefined;
  private readonly extraHeaders: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly userAgent: string;
  private readonly allowAddress: ((host: string, address: string) => boolean) | undefined;
  private readonly agent: http.Agent;
  /** scope key → bearer token and when it stops being used. */
  private readonly tokens = new Map<string, { token: string; until: number }>();
  private basic = false;
  private challenge: { realm: string; service: string | undefined } | undefined;

  constructor(opts: RegistryClientOptions) {
    this.baseUrl = registryBaseUrl(opts.registry);
    this.base = new URL(this.baseUrl);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new HangarError('invalid_argument', `registry URL '${opts.registry}' is not http(s)`);
    this.creds = opts.credentials;
    this.extraHeaders = { ...(opts.headers ?? {}) };
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.signal = opts.signal;
    this.userAgent = opts.userAgent ?? 'hangar';
    this.allowAddress = opts.allowAddress;
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 8 }) : new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  /** `host[:port]` of the registry, as image references name it. */
  get host(): string {
    return this.base.host;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private send(method: string, url: URL, headers: Record<string, string>, body: Body): Promise<RawResponse> {
    if (this.signal?.aborted) return Promise.reject(new HangarError('unavailable', `registry request to ${this.base.host} aborted`));
    const mod = url.protocol === 'https:' ? https : http;
    const sameHost = url.host === this.base.host;
    const allow = this.allowAddress;
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    if (allow && isIP(literal) !== 0 && !allow(url.host, literal)) {
      return Promise.reject(new HangarError('permission_denied', `registry ${url.host}: this node may not connect to ${literal}`));
    }
    return new Promise<RawResponse>((resolve, reject) => {
      const req = mod.request(url, {
        method,
        headers: { 'user-agent': this.userAgent, ...(sameHost ? this.extraHeaders : {}), ...headers },
        ...(sameHost ? { agent: this.agent } : {}),
        ...(allow ? { lookup: guardedLookup((a) => allow(url.host, a)) } : {}),
        ...(this.signal ? { signal: this.signal } : {}),
      });
      const fail = (e: Error): void => {
        const why = (e as NodeJS.ErrnoException).code ?? e.message;
        reject(e instanceof HangarError ? e : new HangarError('unavailable', `registry ${url.host}: ${method} ${url.pathname} failed (${why})`, { cause: e }));
      };
      req.setTimeout(this.timeoutMs, () => req.destroy(new HangarError('unavailable', `registry ${url.host}: ${method} ${url.pathname} timed out after ${this.timeoutMs} ms`)));
      req.on('error', fail);
      req.on('response', (res) => {
        res.setTimeout(this.timeoutMs, () => res.destroy(new Error(`no data for ${this.timeoutMs} ms`)));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else pipeline(body, req).catch((e: unknown) => req.destroy(e instanceof Error ? e : new Error(String(e))));
    });
  }

  private authHeader(scopes: string[]): string | undefined {
    if (this.basic && this.creds) return `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}`;
    const t = this.tokens.get(scopes.join(' '));
    if (t && t.until > Date.now()) return `Bearer ${t.token}`;
    return undefined;
  }

  /** Answers a 401 challenge; false when there is nothing more to try. */
  private async authenticate(wwwAuth: string | undefined, scopes: string[]): Promise<boolean> {
    if (!wwwAuth) return false;
    const { scheme, params } = parseChallenge(wwwAuth);
    if (scheme === 'basic') {
      if (!this.creds || this.basic) return false;
      this.basic = true;
      return true;
    }
    if (scheme !== 'bearer' || !params['realm']) return false;
    this.challenge = { realm: params['realm'], service: params['service'] };
    const key = scopes.join(' ');
    if (this.tokens.has(key) && (this.tokens.get(key)!.until > Date.now())) {
      // The token we sent was refused: a second token for the same scope will not do better.
      this.tokens.delete(key);
      return false;
    }
    const wanted = new Set(scopes);
    if (params['scope']) for (const s of params['scope'].split(' ')) if (s) wanted.add(s);
    const token = await this.fetchToken([...wanted]);
    this.tokens.set(key, token);
    return true;
  }

  private async fetchToken(scopes: string[]): Promise<{ token: string; until: number }> {
    const ch = this.challenge!;
    let realm: URL;
    try {
      realm = new URL(ch.realm);
    } catch {
      throw new HangarError('unavailable', `registry ${this.base.host}: token realm '${ch.realm.slice(0, 100)}' is not a URL`);
    }
    if (ch.service) realm.searchParams.set('service', ch.service);
    for (const s of scopes) realm.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.creds) headers['authorization'] = `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}`;
    const res = await this.send('GET', realm, headers, undefined);
    const text = await readAll(res.body, 1024 * 1024);
    if (res.status !== 200) {
      throw new HangarError(res.status === 401 || res.status === 403 ? 'unauthenticated' : kindOfStatus(res.status), `registry ${this.base.host}: the token service refused ${this.creds ? `user '${this.creds.username}'` : 'anonymous access'} (HTTP ${res.status})`);
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(text.toString('utf8')) as typeof doc;
    } catch {
      throw new HangarError('unavailable', `registry ${this.base.host}: the token service answered something that is not JSON`);
    }
    const token = typeof doc.token === 'string' ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : undefined;
    if (!token) throw new HangarError('unavailable', `registry ${this.base.host}: the token service answered no token`);
    const ttl = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    return { token, until: Date.now() + Math.max(1, ttl - 5) * 1000 };
  }

  /** One request with auth (one retry after a challenge) and redirects; throws on a non-ok status. */
  async request(method: string, pathOrUrl: string | URL, o: RequestOptions): Promise<RawResponse> {
    let url = typeof pathOrUrl === 'string' ? new URL(pathOrUrl, this.base) : pathOrUrl;
    const replayable = !(o.body instanceof Readable);
    let triedAuth = false;
    for (let hops = 0; ; ) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const sentAuth = url.host === this.base.host ? this.authHeader(o.scopes) : undefined;
      if (sentAuth) headers['authorization'] = sentAuth;
      const res = await this.send(method, url, headers, o.body);
      if (res.status === 401 && !triedAuth && url.host === this.base.host && replayable) {
        triedAuth = true;
        // A concurrent request may have authenticated meanwhile: use what it got before asking again.
        const now = this.authHeader(o.scopes);
        if ((now !== undefined && now !== sentAuth) || (await this.authenticate(res.headers['www-authenticate'], o.scopes))) {
          res.body.resume();
          continue;
        }
        throw await this.errorOf(method, url, res, o.scopes);
      }
      if (!o.noRedirect && [301, 302, 303, 307, 308].includes(res.status) && res.headers.location) {
        res.body.resume();
        if (++hops > MAX_REDIRECTS) throw new HangarError('unavailable', `registry ${this.base.host}: too many redirects`);
        if (!replayable) throw new HangarError('unavailable', `registry ${this.base.host}: redirected during an upload`);
        url = new URL(res.headers.location, url);
        if (res.status === 303) method = 'GET';
        continue;
      }
      if ((o.ok ?? ((s: number) => s >= 200 && s < 300))(res.status)) return res;
      throw await this.errorOf(method, url, res, o.scopes);
    }
  }

  async errorOf(method: string, url: URL, res: RawResponse, scopes: string[]): Promise<HangarError> {
    let detail = '';
    if (method !== 'HEAD') {
      try {
        const text = (await readAll(res.body, 64 * 1024)).toString('utf8');
        const doc = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
        const e = doc.errors?.[0];
        if (e) detail = `: ${e.code ?? 'ERROR'}${e.message ? ` ${e.message}` : ''}`;
      } catch {
        // not a JSON error body
      }
    } else {
      res.body.resume();
    }
    const what = res.status === 401 ? ` (${this.creds ? `credentials for '${this.creds.username}' refused` : 'no credentials given'}; scope ${scopes.join(' ')})` : '';
    return new HangarError(kindOfStatus(res.status), `registry ${this.base.host}: ${method} ${url.pathname} → HTTP ${res.status}${detail}${what}`);
  }
}
