/**
 * An OCI Distribution client for any registry: the node's own `/v2/`, a
 * central registry (CNCF Distribution, Harbor, …) or one named in a full
 * image reference. HTTP and auth are transport.ts's.
 *
 * - Reads: manifests and indexes (OCI + Docker v2 types), blobs streamed with
 *   a byte-range resume when a download breaks off.
 * - Writes: blob existence check, cross-repository mount, monolithic or
 *   chunked upload (POST → PATCH… → PUT ?digest=), manifest PUT.
 * - Progress callbacks (bytes done / total) for the CLI's progress bars.
 */
import { PassThrough, Readable } from 'node:stream';
import { sha256 } from '../lib/digest.js';
import { HangarError } from '../lib/errors.js';
import { MT } from '../oci/media-types.js';
import { isDigest, isRepositoryName, isTag } from '../oci/names.js';
import { readAll, RegistryTransport, type RawResponse, type RegistryClientOptions } from './transport.js';

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

const MAX_RESUMES = 3;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

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
  private readonly t: RegistryTransport;

  constructor(opts: RegistryClientOptions) {
    this.t = new RegistryTransport(opts);
    this.baseUrl = this.t.baseUrl;
  }

  /** `host[:port]` of the registry, as image references name it. */
  get host(): string {
    return this.t.host;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.t.close();
  }

  /** `GET /v2/`: reachable, and our credentials (if any) are accepted. */
  async ping(): Promise<void> {
    const res = await this.t.request('GET', '/v2/', { scopes: [] });
    res.body.resume();
  }

  async getManifest(repo: string, reference: string, accept: readonly string[] = MANIFEST_ACCEPT): Promise<FetchedManifest> {
    checkRepo(repo);
    checkReference(reference);
    const res = await this.t.request('GET', `/v2/${repo}/manifests/${reference}`, { scopes: [`repository:${repo}:pull`], headers: { accept: accept.join(', ') } });
    const body = await readAll(res.body, MAX_MANIFEST_BYTES);
    const computed = sha256(body);
    const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim() || mediaTypeOf(body);
    if (isDigest(reference) && computed !== reference) {
      throw new HangarError('invalid_argument', `registry ${this.t.host}: manifest ${repo}@${reference} hashes to ${computed}`);
    }
    const header = res.headers['docker-content-digest'];
    if (typeof header === 'string' && isDigest(header) && header !== computed) {
      throw new HangarError('invalid_argument', `registry ${this.t.host}: manifest ${repo}:${reference} hashes to ${computed}, the registry says ${header}`);
    }
    return { digest: computed, mediaType, body };
  }

  /** HEAD of a manifest; undefined when the registry does not have it. */
  async headManifest(repo: string, reference: string, accept: readonly string[] = MANIFEST_ACCEPT): Promise<ManifestHead | undefined> {
    checkRepo(repo);
    checkReference(reference);
    const res = await this.t.request('HEAD', `/v2/${repo}/manifests/${reference}`, {
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
    const res = await this.t.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scopes: [`repository:${repo}:pull`], ok: (s) => (s >= 200 && s < 300) || s === 404 });
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
          res = await this.t.request('GET', `/v2/${repo}/blobs/${desc.digest}`, { scopes: [`repository:${repo}:pull`], headers });
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
            if (done > desc.size) throw new HangarError('invalid_argument', `registry ${this.t.host}: blob ${desc.digest} is larger than ${desc.size} bytes`);
            onProgress?.(done, desc.size);
            if (!out.write(c)) await new Promise<void>((r) => out.once('drain', r));
            if (out.destroyed) return;
          }
        } catch (e) {
          if (e instanceof HangarError) throw e;
          if (attempt < MAX_RESUMES && !out.destroyed) continue;
          throw new HangarError('unavailable', `registry ${this.t.host}: download of ${desc.digest} broke off at ${done} of ${desc.size} bytes`, { cause: e });
        }
        if (done === desc.size) return;
        if (attempt >= MAX_RESUMES) throw new HangarError('unavailable', `registry ${this.t.host}: blob ${desc.digest} ended at ${done} of ${desc.size} bytes`);
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
      start = await this.t.request('POST', `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(o.mountFrom)}`, { scopes, body: Buffer.alloc(0), noRedirect: true });
      start.body.resume();
      if (start.status === 201) {
        o.onProgress?.(desc.size, desc.size);
        return 'mounted';
      }
    } else {
      start = await this.t.request('POST', `/v2/${repo}/blobs/uploads/`, { scopes, body: Buffer.alloc(0), noRedirect: true });
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
      const res = await this.t.request('PUT', location, {
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
      const res = await this.t.request('PATCH', location, {
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
    const fin = await this.t.request('PUT', location, { scopes, headers: { 'content-length': '0' }, body: Buffer.alloc(0), noRedirect: true });
    fin.body.resume();
    return 'uploaded';
  }

  private uploadLocation(res: RawResponse): URL {
    const loc = res.headers.location;
    if (!loc) throw new HangarError('unavailable', `registry ${this.t.host}: upload answer (HTTP ${res.status}) has no Location`);
    return new URL(loc, this.t.base);
  }

  /** PUTs a manifest or index; returns its digest. */
  async putManifest(repo: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    checkRepo(repo);
    checkReference(reference);
    const res = await this.t.request('PUT', `/v2/${repo}/manifests/${reference}`, { scopes: [`repository:${repo}:pull,push`], headers: { 'content-type': mediaType }, body });
    res.body.resume();
    const digest = sha256(body);
    const header = res.headers['docker-content-digest'];
    if (typeof header === 'string' && isDigest(header) && header !== digest) {
      throw new HangarError('internal', `registry ${this.t.host}: stored manifest as ${header}, its content hashes to ${digest}`);
    }
    return digest;
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    checkRepo(repo);
    checkDigest(digest);
    const res = await this.t.request('DELETE', `/v2/${repo}/manifests/${digest}`, { scopes: [`repository:${repo}:delete`, `repository:${repo}:pull,push`] });
    res.body.resume();
  }

  /** Every tag of a repository (follows `Link` paging). */
  async tags(repo: string): Promise<string[]> {
    checkRepo(repo);
    const out: string[] = [];
    let next: string | undefined = `/v2/${repo}/tags/list?n=1000`;
    for (let pages = 0; next && pages < 1000; pages++) {
      const res = await this.t.request('GET', next, { scopes: [`repository:${repo}:pull`] });
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
