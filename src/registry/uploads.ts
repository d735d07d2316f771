/**
 * Upload sessions of the distribution API (POST → PATCH… → PUT ?digest=):
 * data in uploads/<uuid>, offset in the database, a running hash kept in
 * memory and rebuilt from the bytes received after a restart.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../lib/fs-util.js';
import { isUuid } from '../lib/ids.js';
import { KeyedMutex } from '../lib/mutex.js';
import type { BlobStore } from './blobs.js';
import type { RegistryContext } from './context.js';
import type { UploadRow } from './db.js';
import { regError, type RegistryError } from './errors.js';
import { checkDigest, checkRepoName } from './names.js';

export interface UploadStatus {
  uuid: string;
  repo: string;
  /** Bytes received so far. */
  offset: number;
}

/** `Range: 0-<last byte>` as the distribution API reports progress ("0-0" when empty). */
export const rangeHeader = (offset: number): string => `0-${Math.max(0, offset - 1)}`;

export class UploadSessions {
  private readonly locks = new KeyedMutex();
  /** Running hash of each session this process has touched. */
  private readonly hashes = new Map<string, { hash: Hash; offset: number }>();

  constructor(
    private readonly c: RegistryContext,
    private readonly blobs: BlobStore,
  ) {}

  start(repo: string): UploadStatus {
    checkRepoName(repo, true);
    const s = this.c.d.s;
    const uuid = randomUUID();
    this.c.tx(() => {
      if (s.countUploads.get()!.n >= this.c.limits.maxUploads) {
        throw regError('TOO_MANY_REQUESTS', `${this.c.limits.maxUploads} uploads are in progress; finish or cancel some first`, { headers: { 'Retry-After': '10' } });
      }
      closeSync(openSync(this.uploadPath(uuid), 'wx', 0o600));
      s.insertUpload.run(uuid, repo, this.c.now(), this.c.now());
    });
    return { uuid, repo, offset: 0 };
  }

  private uploadPath(uuid: string): string {
    return join(this.c.uploadDir, uuid);
  }

  private uploadRow(repo: string, uuid: string): UploadRow {
    const row = isUuid(uuid) ? this.c.d.s.upload.get(uuid) : undefined;
    if (!row || row.repo !== repo) throw regError('BLOB_UPLOAD_UNKNOWN', `upload ${uuid.slice(0, 80)} is unknown in repository ${repo}`, { detail: { uuid: uuid.slice(0, 80) } });
    return row;
  }

  status(repo: string, uuid: string): UploadStatus {
    const row = this.uploadRow(repo, uuid);
    return { uuid, repo, offset: this.hashes.get(uuid)?.offset ?? row.offset };
  }

  /** The running hash of a session; after a restart it is rebuilt from the bytes the database says were received. */
  private async uploadState(row: UploadRow): Promise<{ hash: Hash; offset: number }> {
    const have = this.hashes.get(row.uuid);
    if (have) return have;
    const path = this.uploadPath(row.uuid);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      this.c.d.s.deleteUpload.run(row.uuid);
      throw regError('BLOB_UPLOAD_UNKNOWN', `upload ${row.uuid} lost its data; start a new one`);
    }
    const offset = Math.min(size, row.offset);
    if (size > offset) {
      const fh = await open(path, 'r+');
      await fh.truncate(offset).finally(() => fh.close());
    }
    const hash = createHash('sha256');
    if (offset > 0) for await (const c of createReadStream(path, { end: offset - 1 })) hash.update(c as Buffer);
    if (offset !== row.offset) this.c.d.s.setUploadOffset.run(offset, this.c.now(), row.uuid);
    const st = { hash, offset };
    this.hashes.set(row.uuid, st);
    return st;
  }

  /**
   * Appends a chunk. With `range` (from Content-Range) the chunk must start at
   * the current offset and be exactly that long, else 416 with the Range held.
   * A failed chunk leaves the session as it was.
   */
  async write(repo: string, uuid: string, body: AsyncIterable<Uint8Array>, range?: { start: number; end: number }): Promise<UploadStatus> {
    return this.locks.run(uuid, async () => {
      const st = await this.uploadState(this.uploadRow(repo, uuid));
      await this.appendChunk(uuid, st, body, range);
      this.c.d.s.setUploadOffset.run(st.offset, this.c.now(), uuid);
      return { uuid, repo, offset: st.offset };
    });
  }

  private async appendChunk(uuid: string, st: { hash: Hash; offset: number }, body: AsyncIterable<Uint8Array>, range?: { start: number; end: number }): Promise<void> {
    const outOfOrder = (msg: string): RegistryError =>
      regError('BLOB_UPLOAD_INVALID', msg, { status: 416, headers: { Range: rangeHeader(st.offset), 'Docker-Upload-UUID': uuid }, detail: { offset: st.offset } });
    if (range && range.start !== st.offset) throw outOfOrder(`chunk starts at ${range.start}, the upload has ${st.offset} bytes`);
    const fh = await open(this.uploadPath(uuid), 'r+');
    try {
      const got = await this.blobs.writeHashed(fh, st.offset, st.hash.copy(), body, this.c.limits.maxBlobBytes).catch(async (e: unknown) => {
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
  async finish(repo: string, uuid: string, digest: string, body?: AsyncIterable<Uint8Array>, range?: { start: number; end: number }): Promise<{ digest: string; size: number }> {
    checkDigest(digest);
    return this.locks.run(uuid, async () => {
      const st = await this.uploadState(this.uploadRow(repo, uuid));
      if (body) await this.appendChunk(uuid, st, body, range);
      const got = `sha256:${st.hash.copy().digest('hex')}`;
      if (got !== digest) {
        this.dropUpload(uuid);
        throw regError('DIGEST_INVALID', `uploaded content (${st.offset} bytes) hashes to ${got}, not ${digest}; the upload was discarded`, { detail: { expected: digest, got, size: st.offset } });
      }
      await fsyncPath(this.uploadPath(uuid));
      this.blobs.commitFile(this.uploadPath(uuid), digest, st.offset, repo, uuid);
      this.hashes.delete(uuid);
      return { digest, size: st.offset };
    });
  }

  async cancel(repo: string, uuid: string): Promise<void> {
    await this.locks.run(uuid, async () => {
      this.uploadRow(repo, uuid);
      this.dropUpload(uuid);
    });
  }

  private dropUpload(uuid: string): void {
    this.c.tx(() => {
      this.c.d.s.deleteUpload.run(uuid);
      rmSync(this.uploadPath(uuid), { force: true });
    });
    this.hashes.delete(uuid);
  }

  /** Removes sessions idle longer than uploadTtlMs, data files without a session, and sessions without data. */
  async sweep(): Promise<number> {
    const s = this.c.d.s;
    const cutoff = this.c.now() - this.c.limits.uploadTtlMs;
    return this.c.tx(() => {
      let n = 0;
      const rows = new Map(s.allUploads.all().map((r) => [r.uuid, r]));
      for (const r of rows.values()) {
        if (r.updated_ms < cutoff || !existsSync(this.uploadPath(r.uuid))) {
          s.deleteUpload.run(r.uuid);
          rmSync(this.uploadPath(r.uuid), { force: true });
          this.hashes.delete(r.uuid);
          n++;
        }
      }
      for (const name of readdirSync(this.c.uploadDir)) {
        if (!rows.has(name)) {
          rmSync(join(this.c.uploadDir, name), { recursive: true, force: true });
          n++;
        }
      }
      return n;
    });
  }
}
