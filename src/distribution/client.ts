/**
 * An OCI Distribution client for any registry: the node's own `/v2/`, a
 * central registry (CNCF Distribution, Harbor, …) or one named in a full
 * image reference.
 *
 * - Transport: plain http for loopback hosts (and when the URL says http),
 *   https otherwise; one keep-alive agent per client; redirects followed
 *   (blob GETs are often redirected to object storage; credentials are not
 *   sent to another host).
 * - Auth: anonymous first; on 401 the `WWW-Authenticate` challenge decides:
 *   `Basic` → the credentials; `Bearer realm=…,service=…,scope=…` → a token
 *   from the realm (with the credentials as Basic, or anonymous), cached per
 *   scope until it expires.
 * - Reads: manifests and indexes (OCI + Docker v2 types), blobs streamed with
 *   a byte-range resume when a download breaks off.
 * - Writes: blob existence check, cross-repository mount, monolithic or
 *   chunked upload (POST → PATCH… → PUT ?digest=), manifest PUT.
 * - Progress callbacks (bytes done / total) for the CLI's progress bars.
 *
 * Errors are HangarErrors: 401 → unauthenticated, 403 → permission_denied,
 * 404 → not_found, other 4xx → invalid_argument, 5xx and network → unavailable;
 * messages carry the registry's OCI error code and message.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HangarError, type ErrorKind } from '../lib/errors.js';
import { sha256 } from '../lib/digest.js';
import { MT } from '../oci/media-types.js';
import { isDigest, isRepositoryName, isTag } from '../oci/names.js';

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
}

export type Progress = (done: number, total: number | undefined) => void;

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface BlobDescriptor {
  digest: string;
  size: number;
}

export interface PushBlobOptions {
  /** Opens the blob's content from `offset` (called again when a chunk must be resent). */
  open: (offset: number) => Readable;
  /** Try a cross-repository mount from this repository first. */
  mountFrom?: string | undefined;
  /** Upload in PATCH chunks of this many bytes; default: one monolithic PUT. */
  chunkSize?: number | undefined;
  onProgress?: Progress | undefined;
}

export type PushBlobResult = 'exists' | 'mounted' | 'uploaded';

/** What a GET of a manifest accepts, most preferred first. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerManifestList, MT.dockerManifest];

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 5;
const MAX_RESUMES = 3;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

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

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

type Body = Buffer | Readable | undefined;

interface RequestOptions {
  headers?: Record<string, string>;
  body?: Body;
  /** Scopes the request needs (`repository:x:pull`). */
  scopes: string[];
  /** Statuses that are not errors (default: 2xx). */
  ok?: (status: number) => boolean;
  /** Do not follow redirects (upload Location answers). */
  noRedirect?: boolean;
}

async function readAll(res: IncomingMessage, max: number): Promise<Buffer> {
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

const checkRepo = (repo: string): void => {
  if (!isRepositoryName(repo)) throw new HangarError('invalid_argument', `invalid repository name '${repo.slice(0, 80)}'`, { field: 'image' });
};
const checkReference = (ref: string): void => {
  if (!isTag(ref) && !isDigest(ref)) throw new HangarError('invalid_argument', `invalid tag or digest '${ref.slice(0, 80)}'`, { field: 'image' });
};
const checkDigest = (d: string): void => {
  if (!isDigest(d)) throw new HangarError('invalid_argument', `invalid digest '${d.slice(0, 80)}' (only sha256)`, { field: 'image' });
};

export class RegistryClient {
  readonly baseUrl: string;
  private readonly base: URL;
  private readonly creds: RegistryCredentials | undefined;
  private readonly extraHeaders: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly userAgent: string;
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

  // --- transport ------------------------------------------------------------

  private send(method: string, url: URL, headers: Record<string, string>, body: Body): Promise<RawResponse> {
    if (this.signal?.aborted) return Promise.reject(new HangarError('unavailable', `registry request to ${this.base.host} aborted`));
    const mod = url.protocol === 'https:' ? https : http;
    const sameHost = url.host === this.base.host;
    return new Promise<RawResponse>((resolve, reject) => {
      const req = mod.request(url, {
        method,
        headers: { 'user-agent': this.userAgent, ...(sameHost ? this.extraHeaders : {}), ...headers },
        ...(sameHost ? { agent: this.agent } : {}),
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
  private async request(method: string, pathOrUrl: string | URL, o: RequestOptions): Promise<RawResponse> {
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

  private async errorOf(method: string, url: URL, res: RawResponse, scopes: string[]): Promise<HangarError> {
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

  // --- API ------------------------------------------------------------------

  /** `GET /v2/`: reachable, and our credentials (if any) are accepted. */
  async ping(): Promise<void> {
    const res = await this.request('GET', '/v2/', { scopes: [] });
    res.body.resume();
  }

  async getManifest(repo: string, reference: string, accept: readonly string[] = MANIFEST_ACCEPT): Promise<FetchedManifest> {
    checkRepo(repo);
    checkReference(reference);
    const res = await this.request('GET', `/v2/${repo}/manifests/${reference}`, { scopes: [`repository:${repo}:pull`], headers: { accept: accept.join(', ') } });
    const body = await readAll(res.body, MAX_MANIFEST_BYTES);
    const computed = sha256(body);
    const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim() || mediaTypeOf(body);
    if (isDigest(reference) && computed !== reference) {
      throw new HangarError('invalid_argument', `registry ${this.base.host}: manifest ${repo}@${reference} hashes to ${computed}`);
    }
    const header = res.headers['docker-content-digest'];
    if (typeof header === 'string' && isDigest(header) && header !== computed) {
      throw new HangarError('invalid_argument', `registry ${this.base.host}: manifest ${repo}:${reference} hashes to ${computed}, the registry says ${header}`);
    }
    return { digest: computed, mediaType, body };
  }

  /** HEAD of a manifest; undefined when the registry does not have it. */
  async headManifest(repo: string, reference: string, accept: readonly string[] = MANIFEST_ACCEPT): Promise<ManifestHead | undefined> {
    checkRepo(repo);
    checkReference(reference);
    const res = await this.request('HEAD', `/v2/${repo}/manifests/${reference}`, {
      scopes: [`repository:${repo}:pull`],
      headers: { accept: accept.join(', ') },
      ok: (s) => (s >= 200 && s < 300) || s === 404,
    });
    res.body.resume();
    if (res.status === 404) return undefined;
    const digest = res.headers['docker-content-digest'];
    if (typeof digest !== 'string' || !isDigest(digest)) {
      // No digest header: a GET tells it (and checks it).
      const m = await this.getManifest(repo, reference, accept);
      return { digest: m.digest, mediaType: m.mediaType, size: m.body.length };
    }
    return { digest, mediaType: String(res.headers['content-type'] ?? '').split(';')[0]!.trim(), size: Number(res.headers['content-length'] ?? 0) };
  }

  /** Size of a blob the registry holds in `repo`, or undefined. */
  async blobSize(repo: string, digest: string): Promise<number | undefined> {
    checkRepo(repo);
    checkDigest(digest);
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scopes: [`repository:${repo}:pull`], ok: (s) => (s >= 200 && s < 300) || s === 404 });
    res.body.resume();
    if (res.status === 404) return undefined;
    return Number(res.headers['content-length'] ?? -1);
  }

  /**
   * Streams a blob. When the connection breaks off, the rest is asked for with
   * a byte range (up to 3 times); a registry that ignores ranges is re-read and
   * the bytes already passed on are skipped. The stream errors on a short read.
   * Digests are not checked here: the consumer (LocalRegistry.putBlob, a file
   * writer) verifies.
   */
  openBlob(repo: string, desc: BlobDescriptor, onProgress?: Progress): Readable {
    checkRepo(repo);
    checkDigest(desc.digest);
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    let done = 0;
    const run = async (): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        const headers: Record<string, string> = {};
        if (done > 0) headers['range'] = `bytes=${done}-`;
        let res: RawResponse;
        try {
          res = await this.request('GET', `/v2/${repo}/blobs/${desc.digest}`, { scopes: [`repository:${repo}:pull`], headers });
        } catch (e) {
          if (attempt < MAX_RESUMES && done > 0 && e instanceof HangarError && e.kind === 'unavailable') continue;
          throw e;
        }
        let skip = done > 0 && res.status === 200 ? done : 0;
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            let c = chunk;
            if (skip > 0) {
              const n = Math.min(skip, c.length);
              skip -= n;
              c = c.subarray(n);
              if (c.length === 0) continue;
            }
            done += c.length;
            if (done > desc.size) throw new HangarError('invalid_argument', `registry ${this.base.host}: blob ${desc.digest} is larger than ${desc.size} bytes`);
            onProgress?.(done, desc.size);
            if (!out.write(c)) await new Promise<void>((r) => out.once('drain', r));
            if (out.destroyed) return;
          }
        } catch (e) {
          if (e instanceof HangarError) throw e;
          if (attempt < MAX_RESUMES && !out.destroyed) continue;
          throw new HangarError('unavailable', `registry ${this.base.host}: download of ${desc.digest} broke off at ${done} of ${desc.size} bytes`, { cause: e });
        }
        if (done === desc.size) return;
        if (attempt >= MAX_RESUMES) throw new HangarError('unavailable', `registry ${this.base.host}: blob ${desc.digest} ended at ${done} of ${desc.size} bytes`);
      }
    };
    run().then(() => out.end(), (e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
    return out;
  }

  /** Pushes one blob unless the registry has it; tries a mount first when `mountFrom` is given. */
  async pushBlob(repo: string, desc: BlobDescriptor, o: PushBlobOptions): Promise<PushBlobResult> {
    checkRepo(repo);
    checkDigest(desc.digest);
    const scopes = o.mountFrom ? [`repository:${repo}:pull,push`, `repository:${o.mountFrom}:pull`] : [`repository:${repo}:pull,push`];
    const have = await this.blobSize(repo, desc.digest);
    if (have !== undefined && have === desc.size) {
      o.onProgress?.(desc.size, desc.size);
      return 'exists';
    }
    let start: RawResponse;
    if (o.mountFrom) {
      checkRepo(o.mountFrom);
      start = await this.request('POST', `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(o.mountFrom)}`, { scopes, body: Buffer.alloc(0), noRedirect: true });
      start.body.resume();
      if (start.status === 201) {
        o.onProgress?.(desc.size, desc.size);
        return 'mounted';
      }
    } else {
      start = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { scopes, body: Buffer.alloc(0), noRedirect: true });
      start.body.resume();
    }
    let location = this.uploadLocation(start);
    const chunk = o.chunkSize && o.chunkSize > 0 && desc.size > o.chunkSize ? o.chunkSize : undefined;
    const counted = (src: Readable, base: number): Readable => {
      let n = base;
      const t = new PassThrough();
      src.on('error', (e) => t.destroy(e));
      src.on('data', (c: Buffer) => {
        n += c.length;
        o.onProgress?.(n, desc.size);
      });
      return src.pipe(t);
    };
    if (!chunk) {
      location.searchParams.set('digest', desc.digest);
      const res = await this.request('PUT', location, {
        scopes,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
        body: desc.size === 0 ? Buffer.alloc(0) : counted(o.open(0), 0),
        noRedirect: true,
      });
      res.body.resume();
      return 'uploaded';
    }
    for (let offset = 0; offset < desc.size; ) {
      const end = Math.min(desc.size, offset + chunk);
      const src = o.open(offset);
      const limited = takeBytes(src, end - offset);
      const res = await this.request('PATCH', location, {
        scopes,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - offset), 'content-range': `${offset}-${end - 1}` },
        body: counted(limited, offset),
        noRedirect: true,
      });
      res.body.resume();
      location = this.uploadLocation(res);
      offset = end;
    }
    location.searchParams.set('digest', desc.digest);
    const fin = await this.request('PUT', location, { scopes, headers: { 'content-length': '0' }, body: Buffer.alloc(0), noRedirect: true });
    fin.body.resume();
    return 'uploaded';
  }

  private uploadLocation(res: RawResponse): URL {
    const loc = res.headers.location;
    if (!loc) throw new HangarError('unavailable', `registry ${this.base.host}: upload answer (HTTP ${res.status}) has no Location`);
    return new URL(loc, this.base);
  }

  /** PUTs a manifest or index; returns its digest. */
  async putManifest(repo: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    checkRepo(repo);
    checkReference(reference);
    const res = await this.request('PUT', `/v2/${repo}/manifests/${reference}`, { scopes: [`repository:${repo}:pull,push`], headers: { 'content-type': mediaType }, body });
    res.body.resume();
    const digest = sha256(body);
    const header = res.headers['docker-content-digest'];
    if (typeof header === 'string' && isDigest(header) && header !== digest) {
      throw new HangarError('internal', `registry ${this.base.host}: stored manifest as ${header}, its content hashes to ${digest}`);
    }
    return digest;
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    checkRepo(repo);
    checkDigest(digest);
    const res = await this.request('DELETE', `/v2/${repo}/manifests/${digest}`, { scopes: [`repository:${repo}:delete`, `repository:${repo}:pull,push`] });
    res.body.resume();
  }

  /** Every tag of a repository (follows `Link` paging). */
  async tags(repo: string): Promise<string[]> {
    checkRepo(repo);
    const out: string[] = [];
    let next: string | undefined = `/v2/${repo}/tags/list?n=1000`;
    for (let pages = 0; next && pages < 1000; pages++) {
      const res = await this.request('GET', next, { scopes: [`repository:${repo}:pull`] });
      const doc = JSON.parse((await readAll(res.body, 16 * 1024 * 1024)).toString('utf8')) as { tags?: string[] | null };
      out.push(...(doc.tags ?? []));
      next = nextLink(res.headers.link);
    }
    return out;
  }
}

/** `<url>; rel="next"` → url. */
function nextLink(link: string | string[] | undefined): string | undefined {
  const s = Array.isArray(link) ? link.join(',') : link;
  return s ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(s)?.[1] : undefined;
}

/** A manifest's media type from its own `mediaType` field (registries that answer without Content-Type). */
function mediaTypeOf(body: Buffer): string {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    return Array.isArray(doc.manifests) ? MT.ociIndex : MT.ociManifest;
  } catch {
    return MT.ociManifest;
  }
}

/** The first `n` bytes of a stream (the rest is left unread and the source destroyed). */
function takeBytes(src: Readable, n: number): Readable {
  let left = n;
  return Readable.from(
    (async function* () {
      for await (const c of src as AsyncIterable<Buffer>) {
        if (left <= 0) break;
        const part = c.length > left ? c.subarray(0, left) : c;
        left -= part.length;
        yield part;
        if (left <= 0) break;
      }
      src.destroy();
    })(),
  );
}
