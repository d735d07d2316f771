/**
 * DiskRegistry: the node's content store and OCI registry storage, under `root`:
 *
 *   blobs/sha256/<hex>   every blob, manifest and index body, by digest (also a valid OCI layout blob tree)
 *   registry.db          SQLite: blob rows, per-repository links, manifests, references, tags, upload sessions
 *   uploads/<uuid>       data of upload sessions in progress
 *   tmp/                 staging (same filesystem, so a verified file is renamed into place)
 *
 * A blob becomes visible only when its row is inserted, in the same immediate
 * transaction that renames the verified file into place; GC deletes rows and
 * moves files out in one transaction too, so readers never see a row without
 * its file. Content is hashed while it is written; nothing unverified is ever
 * renamed into blobs/.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, openSync, closeSync, readdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { isUuid } from '../lib/ids.js';
import { KeyedMutex } from '../lib/mutex.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { openRegistryDb, type ManifestRow, type RegistryDb, type UploadRow } from './db.js';
import { digestHex, sha256 } from '../lib/digest.js';
import { regError, RegistryError } from './errors.js';
import { fsyncPath, isStaleTemp, tempName, writeNewFile } from '../lib/fs-util.js';
import { isForeign } from '../oci/descriptor.js';
import { OciFormatError } from '../oci/errors.js';
import { parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { isDigest, looksLikeDigest } from '../oci/names.js';
import { checkDigest, checkRepoName, checkTag } from './names.js';
import type { Descriptor, LocalRegistry, ManifestChange, StoredManifest, TagInfo } from './ports.js';

export interface RegistryLimits {
  /** Largest blob accepted (default 10 GiB). */
  maxBlobBytes: number;
  /** Largest manifest or index accepted (default 4 MiB). */
  maxManifestBytes: number;
  /** Upload sessions open at once (default 1000); more are refused with TOO_MANY_REQUESTS. */
  maxUploads: number;
  /** An upload session idle this long is removed (default 24 h). */
  uploadTtlMs: number;
  /** gc keeps content pushed less than this long ago that nothing references yet (default 1 h): a push in progress. */
  graceMs: number;
}

export const DEFAULT_LIMITS: RegistryLimits = {
  maxBlobBytes: 10 * 1024 ** 3,
  maxManifestBytes: 4 * 1024 * 1024,
  maxUploads: 1000,
  uploadTtlMs: 24 * 3600_000,
  graceMs: 3600_000,
};

/** Limits from `HANGAR_REGISTRY_MAX_BLOB_BYTES` and `HANGAR_REGISTRY_MAX_MANIFEST_BYTES` (unset: the defaults). */
export function limitsFromEnv(env: NodeJS.ProcessEnv): Partial<RegistryLimits> {
  const out: Partial<RegistryLimits> = {};
  const num = (k: string): number | undefined => {
    const v = env[k];
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/.test(v)) throw new RegistryError('UNSUPPORTED', `${k} must be a number of bytes, got '${v}'`, { kind: 'invalid_argument', field: k });
    return Number(v);
  };
  const blob = num('HANGAR_REGISTRY_MAX_BLOB_BYTES');
  const manifest = num('HANGAR_REGISTRY_MAX_MANIFEST_BYTES');
  if (blob !== undefined) out.maxBlobBytes = blob;
  if (manifest !== undefined) out.maxManifestBytes = manifest;
  return out;
}

export interface DiskRegistryOptions {
  root: string;
  limits?: Partial<RegistryLimits>;
  /** True when an instance uses this manifest digest: deleting its last tag or the manifest is refused. */
  inUse?: (digest: string) => boolean;
  logger?: Logger;
  now?: () => number;
}

export interface UploadStatus {
  uuid: string;
  repo: string;
  /** Bytes received so far. */
  offset: number;
}

export interface GcResult {
  /** Blob digests removed (manifest bodies included). */
  removed: string[];
  freedBytes: number;
  /** Manifest digests no repository holds any more. */
  removedManifests: string[];
}

const HEX_RE = /^[a-f0-9]{64}$/;

/** parseManifest with its errors as the distribution API names them. */
function parseStored(body: Buffer, mediaType: string): ParsedManifest {
  try {
    return parseManifest(body, mediaType);
  } catch (e) {
    if (!(e instanceof OciFormatError)) throw e;
    if (e.reason === 'unsupported') throw regError('UNSUPPORTED', e.message, e.detail === undefined ? {} : { detail: e.detail });
    throw regError('MANIFEST_INVALID', `manifest invalid: ${e.message}`, e.detail === undefined ? {} : { detail: e.detail });
  }
}

/** `Range: 0-<last byte>` as the distribution API reports progress ("0-0" when empty). */
export const rangeHeader = (offset: number): string => `0-${Math.max(0, offset - 1)}`;

export class DiskRegistry implements LocalRegistry {
  readonly root: string;
  readonly blobDir: string;
  readonly tmpDir: string;
  readonly uploadDir: string;
  readonly limits: RegistryLimits;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly inUse: (digest: string) => boolean;
  private readonly listeners: Array<(c: ManifestChange) => void> = [];
  private readonly uploadLocks = new KeyedMutex();
  /** Running hash of each upload session this process has touched. */
  private readonly uploadHashes = new Map<string, { hash: Hash; offset: number }>();
  private dbh: RegistryDb | undefined;
  private initDone: Promise<void> | undefined;

  constructor(opts: DiskRegistryOptions) {
    this.root = resolve(opts.root);
    this.blobDir = join(this.root, 'blobs', 'sha256');
    this.tmpDir = join(this.root, 'tmp');
    this.uploadDir = join(this.root, 'uploads');
    this.limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    this.log = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.inUse = opts.inUse ?? (() => false);
  }

  /** Opens the database, removes what a dead process left (staging, orphan files, expired uploads). Idempotent. */
  init(): Promise<void> {
    this.initDone ??= this.doInit();
    return this.initDone;
  }

  private async doInit(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true, mode: 0o755 });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    await mkdir(this.uploadDir, { recursive: true, mode: 0o700 });
    const dbPath = join(this.root, 'registry.db');
    const firstOpen = !existsSync(dbPath);
    this.dbh = openRegistryDb(dbPath);
    for (const name of await readdir(this.tmpDir)) {
      if (isStaleTemp(name)) await rm(join(this.tmpDir, name), { recursive: true, force: true });
    }
    if (firstOpen) this.adoptBlobFiles();
    await this.sweepOrphans();
    await this.sweepUploads();
  }

  close(): void {
    this.dbh?.db.close();
    this.dbh = undefined;
  }

  private get d(): RegistryDb {
    if (!this.dbh) throw new RegistryError('UNSUPPORTED', 'registry used before init() or after close()', { status: 503, kind: 'unavailable' });
    return this.dbh;
  }

  /** Runs fn in an immediate (write-locked) transaction: also excludes other processes on the same store. */
  private tx<T>(fn: () => T): T {
    return this.d.db.transaction(fn).immediate();
  }

  onChange(listener: (change: ManifestChange) => void): void {
    this.listeners.push(listener);
  }

  private emit(change: ManifestChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (e) {
        this.log.warn({ err: String(e) }, 'registry change listener failed');
      }
    }
  }

  // ---- blobs ----

  blobPath(digest: string): string {
    return join(this.blobDir, digestHex(digest));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return isDigest(digest) && this.d.s.blob.get(digest) !== undefined;
  }

  async blobSize(digest: string): Promise<number | undefined> {
    return isDigest(digest) ? this.d.s.blob.get(digest)?.size : undefined;
  }

  /** Size of a blob as seen from `repo` (linked there), or undefined. */
  blobSizeIn(repo: string, digest: string): number | undefined {
    if (!isDigest(digest) || !this.d.s.link.get(repo, digest)) return undefined;
    return this.d.s.blob.get(digest)?.size;
  }

  openBlob(digest: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.blobPath(digest), range ? { start: range.start, end: range.end } : {});
  }

  async putBlob(content: Readable | AsyncIterable<Uint8Array>, expected: { digest: string; size?: number }, opts: { repo?: string } = {}): Promise<{ digest: string; size: number }> {
    checkDigest(expected.digest);
    if (opts.repo !== undefined) checkRepoName(opts.repo, true);
    const max = Math.min(this.limits.maxBlobBytes, expected.size ?? Infinity);
    if (expected.size !== undefined && expected.size > this.limits.maxBlobBytes) throw this.tooLarge(expected.size);
    const file = join(this.tmpDir, tempName('blob'));
    try {
      const fh = await open(file, 'wx', 0o644);
      let got: { digest: string; size: number };
      try {
        got = await this.writeHashed(fh, 0, createHash('sha256'), content as AsyncIterable<Uint8Array>, max, expected.size !== undefined);
        await fh.sync();
      } finally {
        await fh.close();
      }
      this.verify(got, expected);
      this.commitFile(file, got.digest, got.size, opts.repo);
      return got;
    } finally {
      await rm(file, { force: true });
    }
  }

  /**
   * Verifies a file and moves it into the store (the caller's file is gone
   * afterwards). A file on another filesystem is copied instead.
   */
  async putBlobFile(path: string, expected: { digest: string; size?: number }, opts: { repo?: string } = {}): Promise<{ digest: string; size: number }> {
    checkDigest(expected.digest);
    const st = statSync(path);
    if (st.size > this.limits.maxBlobBytes) throw this.tooLarge(st.size);
    const h = createHash('sha256');
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
    const got = { digest: `sha256:${h.digest('hex')}`, size: st.size };
    this.verify(got, expected);
    try {
      this.commitFile(path, got.digest, got.size, opts.repo);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      return this.putBlob(createReadStream(path), expected, opts);
    }
    return got;
  }

  private tooLarge(size: number): RegistryError {
    return regError('SIZE_INVALID', `blob of ${size} bytes is larger than the ${this.limits.maxBlobBytes} bytes allowed`, { status: 413, detail: { limit: this.limits.maxBlobBytes } });
  }

  private verify(got: { digest: string; size: number }, expected: { digest: string; size?: number }): void {
    if (expected.size !== undefined && got.size !== expected.size) {
      throw regError('SIZE_INVALID', `content is ${got.size} bytes, expected ${expected.size}`, { detail: { expected: expected.size, got: got.size } });
    }
    if (got.digest !== expected.digest) {
      throw regError('DIGEST_INVALID', `content hashes to ${got.digest}, not ${expected.digest}`, { detail: { expected: expected.digest, got: got.digest } });
    }
  }

  /**
   * Writes `content` at `offset` while hashing it; refuses (without keeping the
   * bytes) content that would pass `max`. Returns the running total.
   */
  private async writeHashed(fh: FileHandle, offset: number, h: Hash, content: AsyncIterable<Uint8Array>, max: number, exactMax = false): Promise<{ digest: string; size: number; hash: Hash }> {
    let pos = offset;
    for await (const c of content) {
      const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      if (pos + chunk.length > max) {
        if (exactMax && max < this.limits.maxBlobBytes) throw regError('SIZE_INVALID', `content is longer than the ${max} bytes expected`, { detail: { expected: max } });
        throw this.tooLarge(pos + chunk.length);
      }
      h.update(chunk);
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, pos + done);
        done += bytesWritten;
      }
      pos += chunk.length;
    }
    return { digest: `sha256:${h.copy().digest('hex')}`, size: pos, hash: h };
  }

  /** Makes a verified file visible (or drops it when the blob is already stored), linked in `repo`. */
  private commitFile(file: string, digest: string, size: number, repo: string | undefined, uploadUuid?: string): void {
    const s = this.d.s;
    this.tx(() => {
      if (s.blob.get(digest)) {
        s.refreshBlob.run(this.now(), digest);
        unlinkSync(file);
      } else {
        renameSync(file, this.blobPath(digest));
        s.insertBlob.run(digest, size, this.now());
      }
      if (repo !== undefined) s.insertLink.run(repo, digest);
      if (uploadUuid !== undefined) s.deleteUpload.run(uploadUuid);
    });
  }

  /** Makes an already stored blob visible in `repo` when `from` (if given) holds it; false when it cannot. */
  mountBlob(repo: string, digest: string, from?: string): boolean {
    const s = this.d.s;
    return this.tx(() => {
      if (!s.blob.get(digest)) return false;
      if (from !== undefined && !s.link.get(from, digest)) return false;
      s.insertLink.run(repo, digest);
      s.refreshBlob.run(this.now(), digest); // a push in progress: protect it until its manifest arrives
      return true;
    });
  }

  /** Removes a blob from `repo` (DELETE /v2/<name>/blobs/<digest>); its bytes go at the next gc if nothing needs them. */
  unlinkBlob(repo: string, digest: string): void {
    const r = this.d.s.deleteLink.run(repo, digest);
    if (r.changes === 0) throw regError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${repo}`, { detail: { digest } });
  }

  // ---- manifests and tags ----

  async putManifest(repo: string, reference: string, body: Buffer, mediaType: string, opts: { pushedBy?: string } = {}): Promise<{ digest: string; subject?: string }> {
    checkRepoName(repo, true);
    const byDigest = looksLikeDigest(reference);
    if (byDigest) checkDigest(reference);
    else checkTag(reference);
    if (body.length > this.limits.maxManifestBytes) {
      throw regError('SIZE_INVALID', `manifest of ${body.length} bytes is larger than the ${this.limits.maxManifestBytes} bytes allowed`, { status: 413, detail: { limit: this.limits.maxManifestBytes } });
    }
    const m = parseStored(body, mediaType);
    const digest = sha256(body);
    if (byDigest && reference !== digest) throw regError('DIGEST_INVALID', `manifest hashes to ${digest}, not ${reference}`, { detail: { expected: reference, got: digest } });
    const tag = byDigest ? undefined : reference;
    const staged = join(this.tmpDir, tempName('manifest'));
    await writeNewFile(staged, body);
    const s = this.d.s;
    const now = this.now();
    try {
      this.tx(() => {
        for (const b of m.blobs) {
          const row = s.blob.get(b.digest);
          if (!row) {
            if (isForeign(b)) continue;
            throw regError('MANIFEST_BLOB_UNKNOWN', `blob ${b.digest} (${b.mediaType}) is not stored`, { detail: { digest: b.digest } });
          }
          if (row.size !== b.size) throw regError('MANIFEST_INVALID', `manifest invalid: descriptor of ${b.digest} says ${b.size} bytes, the blob has ${row.size}`, { detail: { digest: b.digest } });
        }
        for (const c of m.manifests) {
          const row = s.manifest.get(repo, c.digest);
          if (!row) throw regError('MANIFEST_BLOB_UNKNOWN', `manifest ${c.digest} is not stored in ${repo}`, { detail: { digest: c.digest } });
          if (row.size !== c.size) throw regError('MANIFEST_INVALID', `manifest invalid: descriptor of ${c.digest} says ${c.size} bytes, the manifest has ${row.size}`, { detail: { digest: c.digest } });
        }
        if (s.blob.get(digest)) unlinkSync(staged);
        else {
          renameSync(staged, this.blobPath(digest));
          s.insertBlob.run(digest, body.length, now);
        }
        s.markBlobReferenced.run(digest);
        s.insertLink.run(repo, digest);
        s.insertManifest.run(repo, digest, m.mediaType, body.length, m.subject?.digest ?? null, m.artifactType ?? null, m.annotations ? JSON.stringify(m.annotations) : null, now, tag ? 1 : 0);
        if (tag) s.markManifestReferenced.run(repo, digest);
        for (const b of m.blobs) {
          s.insertRef.run(digest, b.digest);
          if (s.blob.get(b.digest)) {
            s.markBlobReferenced.run(b.digest);
            s.insertLink.run(repo, b.digest);
          }
        }
        for (const c of m.manifests) {
          s.insertRef.run(digest, c.digest);
          s.markManifestReferenced.run(repo, c.digest);
        }
        if (tag) {
          const prev = s.tag.get(repo, tag);
          if (!prev || prev.digest !== digest) s.upsertTag.run(repo, tag, digest, new Date(now).toISOString(), opts.pushedBy ?? null);
        }
      });
    } finally {
      await rm(staged, { force: true });
    }
    this.emit({ repo, digest, kind: 'put', ...(tag ? { tag } : {}) });
    return { digest, ...(m.subject ? { subject: m.subject.digest } : {}) };
  }

  /** Digest, media type and size of a manifest by tag or digest, without reading it. */
  manifestInfo(repo: string, reference: string): { digest: string; mediaType: string; size: number; subject?: string } | undefined {
    const s = this.d.s;
    let digest = reference;
    if (!looksLikeDigest(reference)) {
      const t = s.tag.get(repo, reference);
      if (!t) return undefined;
      digest = t.digest;
    }
    const row = s.manifest.get(repo, digest);
    if (!row) return undefined;
    return { digest, mediaType: row.media_type, size: row.size, ...(row.subject ? { subject: row.subject } : {}) };
  }

  async getManifest(repo: string, reference: string): Promise<StoredManifest | undefined> {
    const info = this.manifestInfo(repo, reference);
    if (!info) return undefined;
    try {
      return { digest: info.digest, mediaType: info.mediaType, body: await readFile(this.blobPath(info.digest)) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // removed by gc meanwhile
      throw e;
    }
  }

  /** Repositories that hold `digest` as a manifest. */
  reposOfManifest(digest: string): string[] {
    return this.d.db.prepare<[string], { repo: string }>('SELECT repo FROM manifests WHERE digest = ? ORDER BY repo').all(digest).map((r) => r.repo);
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    const s = this.d.s;
    this.tx(() => {
      if (!s.manifest.get(repo, digest)) throw regError('MANIFEST_UNKNOWN', `manifest ${digest} is not in repository ${repo}`, { detail: { digest } });
      if (this.inUse(digest)) throw this.denied(digest);
      s.deleteTagsAt.run(repo, digest);
      s.deleteManifest.run(repo, digest);
    });
    this.emit({ repo, digest, kind: 'delete' });
  }

  async deleteTag(repo: string, tag: string): Promise<void> {
    const s = this.d.s;
    const digest = this.tx(() => {
      const t = s.tag.get(repo, tag);
      if (!t) throw regError('MANIFEST_UNKNOWN', `tag ${tag} is not in repository ${repo}`, { detail: { tag } });
      if (this.inUse(t.digest) && s.tagsOfDigest.all(t.digest).length === 1) throw this.denied(t.digest);
      s.deleteTag.run(repo, tag);
      return t.digest;
    });
    this.emit({ repo, digest, tag, kind: 'delete' });
  }

  private denied(digest: string): RegistryError {
    return regError('DENIED', `image ${digest} is used by an instance; delete the instance first`, { status: 409, kind: 'failed_precondition', detail: { digest } });
  }

  async repositories(): Promise<string[]> {
    return this.d.s.repositories.all().map((r) => r.repo);
  }

  hasRepository(repo: string): boolean {
    return this.d.s.repoExists.get(repo) !== undefined;
  }

  async tags(repo: string): Promise<TagInfo[]> {
    return this.d.s.tagsOf.all(repo).map((t) => ({ repo: t.repo, tag: t.tag, digest: t.digest, updatedAt: t.updated_at, ...(t.pushed_by ? { pushedBy: t.pushed_by } : {}) }));
  }

  async referrers(repo: string, digest: string): Promise<Descriptor[]> {
    return this.d.s.referrers.all(repo, digest).map((r: ManifestRow) => {
      const d: Descriptor = { mediaType: r.media_type, digest: r.digest, size: r.size };
      if (r.artifact_type) d.artifactType = r.artifact_type;
      if (r.annotations) d.annotations = JSON.parse(r.annotations) as Record<string, string>;
      return d;
    });
  }

  // ---- upload sessions ----

  startUpload(repo: string): UploadStatus {
    checkRepoName(repo, true);
    const s = this.d.s;
    const uuid = randomUUID();
    this.tx(() => {
      if (s.countUploads.get()!.n >= this.limits.maxUploads) {
        throw regError('TOO_MANY_REQUESTS', `${this.limits.maxUploads} uploads are in progress; finish or cancel some first`, { headers: { 'Retry-After': '10' } });
      }
      closeSync(openSync(this.uploadPath(uuid), 'wx', 0o600));
      s.insertUpload.run(uuid, repo, this.now(), this.now());
    });
    return { uuid, repo, offset: 0 };
  }

  private uploadPath(uuid: string): string {
    return join(this.uploadDir, uuid);
  }

  private uploadRow(repo: string, uuid: string): UploadRow {
    const row = isUuid(uuid) ? this.d.s.upload.get(uuid) : undefined;
    if (!row || row.repo !== repo) throw regError('BLOB_UPLOAD_UNKNOWN', `upload ${uuid.slice(0, 80)} is unknown in repository ${repo}`, { detail: { uuid: uuid.slice(0, 80) } });
    return row;
  }

  uploadStatus(repo: string, uuid: string): UploadStatus {
    const row = this.uploadRow(repo, uuid);
    return { uuid, repo, offset: this.uploadHashes.get(uuid)?.offset ?? row.offset };
  }

  /** The running hash of a session; after a restart it is rebuilt from the bytes the database says were received. */
  private async uploadState(row: UploadRow): Promise<{ hash: Hash; offset: number }> {
    const have = this.uploadHashes.get(row.uuid);
    if (have) return have;
    const path = this.uploadPath(row.uuid);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      this.d.s.deleteUpload.run(row.uuid);
      throw regError('BLOB_UPLOAD_UNKNOWN', `upload ${row.uuid} lost its data; start a new one`);
    }
    const offset = Math.min(size, row.offset);
    if (size > offset) {
      const fh = await open(path, 'r+');
      await fh.truncate(offset).finally(() => fh.close());
    }
    const hash = createHash('sha256');
    if (offset > 0) for await (const c of createReadStream(path, { end: offset - 1 })) hash.update(c as Buffer);
    if (offset !== row.offset) this.d.s.setUploadOffset.run(offset, this.now(), row.uuid);
    const st = { hash, offset };
    this.uploadHashes.set(row.uuid, st);
    return st;
  }

  /**
   * Appends a chunk. With `range` (from Content-Range) the chunk must start at
   * the current offset and be exactly that long, else 416 with the Range held.
   * A failed chunk leaves the session as it was.
   */
  async writeUpload(repo: string, uuid: string, body: AsyncIterable<Uint8Array>, range?: { start: number; end: number }): Promise<UploadStatus> {
    return this.uploadLocks.run(uuid, async () => {
      const st = await this.uploadState(this.uploadRow(repo, uuid));
      await this.appendChunk(uuid, st, body, range);
      this.d.s.setUploadOffset.run(st.offset, this.now(), uuid);
      return { uuid, repo, offset: st.offset };
    });
  }

  private async appendChunk(uuid: string, st: { hash: Hash; offset: number }, body: AsyncIterable<Uint8Array>, range?: { start: number; end: number }): Promise<void> {
    const outOfOrder = (msg: string): RegistryError =>
      regError('BLOB_UPLOAD_INVALID', msg, { status: 416, headers: { Range: rangeHeader(st.offset), 'Docker-Upload-UUID': uuid }, detail: { offset: st.offset } });
    if (range && range.start !== st.offset) throw outOfOrder(`chunk starts at ${range.start}, the upload has ${st.offset} bytes`);
    const fh = await open(this.uploadPath(uuid), 'r+');
    try {
      const got = await this.writeHashed(fh, st.offset, st.hash.copy(), body, this.limits.maxBlobBytes).catch(async (e: unknown) => {
        await fh.truncate(st.offset);
        throw e;
      });
      if (range && got.size - st.offset !== range.end - range.start + 1) {
        await fh.truncate(st.offset);
        throw outOfOrder(`Content-Range ${range.start}-${range.end} announces ${range.end - range.start + 1} bytes, the chunk had ${got.size - st.offset}`);
      }
      st.hash = got.hash;
      st.offset = got.size;
    } finally {
      await fh.close();
    }
  }

  /** Completes a session: the optional last chunk, then the digest check; the blob is visible in `repo` once this returns. */
  async finishUpload(repo: string, uuid: string, digest: string, body?: AsyncIterable<Uint8Array>, range?: { start: number; end: number }): Promise<{ digest: string; size: number }> {
    checkDigest(digest);
    return this.uploadLocks.run(uuid, async () => {
      const st = await this.uploadState(this.uploadRow(repo, uuid));
      if (body) await this.appendChunk(uuid, st, body, range);
      const got = `sha256:${st.hash.copy().digest('hex')}`;
      if (got !== digest) {
        this.dropUpload(uuid);
        throw regError('DIGEST_INVALID', `uploaded content (${st.offset} bytes) hashes to ${got}, not ${digest}; the upload was discarded`, { detail: { expected: digest, got, size: st.offset } });
      }
      await fsyncPath(this.uploadPath(uuid));
      this.commitFile(this.uploadPath(uuid), digest, st.offset, repo, uuid);
      this.uploadHashes.delete(uuid);
      return { digest, size: st.offset };
    });
  }

  async cancelUpload(repo: string, uuid: string): Promise<void> {
    await this.uploadLocks.run(uuid, async () => {
      this.uploadRow(repo, uuid);
      this.dropUpload(uuid);
    });
  }

  private dropUpload(uuid: string): void {
    this.tx(() => {
      this.d.s.deleteUpload.run(uuid);
      rmSync(this.uploadPath(uuid), { force: true });
    });
    this.uploadHashes.delete(uuid);
  }

  /** Removes sessions idle longer than uploadTtlMs, data files without a session, and sessions without data. */
  async sweepUploads(): Promise<number> {
    const s = this.d.s;
    const cutoff = this.now() - this.limits.uploadTtlMs;
    return this.tx(() => {
      let n = 0;
      const rows = new Map(s.allUploads.all().map((r) => [r.uuid, r]));
      for (const r of rows.values()) {
        if (r.updated_ms < cutoff || !existsSync(this.uploadPath(r.uuid))) {
          s.deleteUpload.run(r.uuid);
          rmSync(this.uploadPath(r.uuid), { force: true });
          this.uploadHashes.delete(r.uuid);
          n++;
        }
      }
      for (const name of readdirSync(this.uploadDir)) {
        if (!rows.has(name)) {
          rmSync(join(this.uploadDir, name), { recursive: true, force: true });
          n++;
        }
      }
      return n;
    });
  }

  // ---- consistency and garbage collection ----

  /** First open of a store that predates the database: its blob files (verified when they were stored) get rows. */
  private adoptBlobFiles(): void {
    const s = this.d.s;
    this.tx(() => {
      for (const name of readdirSync(this.blobDir)) {
        if (!HEX_RE.test(name)) continue;
        const st = statSync(join(this.blobDir, name));
        if (st.isFile()) s.insertBlob.run(`sha256:${name}`, st.size, this.now());
      }
    });
  }

  /** Files in blobs/ without a row (a crash between rename and commit) and rows without a file go. */
  private async sweepOrphans(): Promise<void> {
    const s = this.d.s;
    const trash = join(this.tmpDir, tempName('trash'));
    mkdirSync(trash);
    this.tx(() => {
      const rows = new Set(s.allBlobs.all().map((r) => r.digest));
      const files = new Set<string>();
      for (const name of readdirSync(this.blobDir)) {
        const digest = `sha256:${name}`;
        if (HEX_RE.test(name) && rows.has(digest)) files.add(digest);
        else renameSync(join(this.blobDir, name), join(trash, name));
      }
      for (const d of rows) {
        if (files.has(d)) continue;
        this.log.error({ digest: d }, 'stored blob is missing from disk; forgetting it');
        s.deleteBlob.run(d);
        s.deleteLinksOf.run(d);
      }
    });
    await rm(trash, { recursive: true, force: true });
  }

  /**
   * Mark and sweep. Live: manifests a tag points at, manifests and blobs
   * `pinned` accepts, content pushed less than `graceMs` ago that nothing has
   * referenced yet, and everything those reference (index children, config,
   * layers) or that refers to them (referrers). Untagged manifests that
   * nothing keeps are deleted, then every blob no live manifest needs.
   */
  async gc(pinned: (digest: string) => boolean, opts: { graceMs?: number } = {}): Promise<GcResult> {
    const s = this.d.s;
    const cutoff = this.now() - (opts.graceMs ?? this.limits.graceMs);
    const trash = join(this.tmpDir, tempName('trash'));
    mkdirSync(trash);
    const result: GcResult = { removed: [], freedBytes: 0, removedManifests: [] };
    const deletedRows: Array<{ repo: string; digest: string }> = [];
    this.tx(() => {
      const manifests = s.allManifests.all();
      const key = (repo: string, digest: string): string => `${repo}@${digest}`;
      const byKey = new Map(manifests.map((m) => [key(m.repo, m.digest), m]));
      const liveManifests = new Set<string>();
      const liveBlobs = new Set<string>();
      const work: ManifestRow[] = [];
      const keep = (m: ManifestRow | undefined): void => {
        if (!m || liveManifests.has(key(m.repo, m.digest))) return;
        liveManifests.add(key(m.repo, m.digest));
        work.push(m);
      };
      for (const t of s.allTags.all()) keep(byKey.get(key(t.repo, t.digest)));
      for (const m of manifests) if (pinned(m.digest) || (m.referenced === 0 && m.created_ms >= cutoff)) keep(m);
      while (work.length > 0) {
        const m = work.pop()!;
        liveBlobs.add(m.digest);
        for (const { child } of s.refsOf.all(m.digest)) {
          liveBlobs.add(child);
          keep(byKey.get(key(m.repo, child)));
        }
        for (const r of s.referrers.all(m.repo, m.digest)) keep(r);
      }
      for (const m of manifests) {
        if (liveManifests.has(key(m.repo, m.digest))) continue;
        s.deleteTagsAt.run(m.repo, m.digest); // none point here, or it would be live; kept for safety
        s.deleteManifest.run(m.repo, m.digest);
        deletedRows.push({ repo: m.repo, digest: m.digest });
      }
      const stillManifest = new Set(s.allManifests.all().map((m) => m.digest));
      for (const { digest } of deletedRows) {
        if (stillManifest.has(digest) || result.removedManifests.includes(digest)) continue;
        result.removedManifests.push(digest);
        s.deleteRefsOf.run(digest);
      }
      for (const b of s.allBlobs.all()) {
        if (liveBlobs.has(b.digest) || stillManifest.has(b.digest) || pinned(b.digest) || (b.referenced === 0 && b.created_ms >= cutoff)) continue;
        s.deleteBlob.run(b.digest);
        s.deleteLinksOf.run(b.digest);
        try {
          renameSync(this.blobPath(b.digest), join(trash, digestHex(b.digest)));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
        result.removed.push(b.digest);
        result.freedBytes += b.size;
      }
    });
    await rm(trash, { recursive: true, force: true });
    for (const r of deletedRows) this.emit({ ...r, kind: 'delete' });
    if (result.removed.length > 0) this.log.info({ blobs: result.removed.length, manifests: result.removedManifests.length, freedBytes: result.freedBytes }, 'registry gc');
    return result;
  }
}
