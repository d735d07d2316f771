/**
 * Blobs of the content store: written while hashed, verified, then made
 * visible by inserting their row in the same transaction that renames the
 * file into blobs/ (so a reader never sees a row without its file); linked
 * per repository.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, renameSync, statSync, unlinkSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { tempName } from '../lib/fs-util.js';
import { isDigest } from '../oci/names.js';
import type { RegistryContext } from './context.js';
import { regError, type RegistryError } from './errors.js';
import { checkDigest, checkRepoName } from './names.js';

export class BlobStore {
  constructor(private readonly c: RegistryContext) {}

  async hasBlob(digest: string): Promise<boolean> {
    return isDigest(digest) && this.c.d.s.blob.get(digest) !== undefined;
  }

  async blobSize(digest: string): Promise<number | undefined> {
    return isDigest(digest) ? this.c.d.s.blob.get(digest)?.size : undefined;
  }

  /** Size of a blob as seen from `repo` (linked there), or undefined. */
  blobSizeIn(repo: string, digest: string): number | undefined {
    if (!isDigest(digest) || !this.c.d.s.link.get(repo, digest)) return undefined;
    return this.c.d.s.blob.get(digest)?.size;
  }

  openBlob(digest: string, range?: { start: number; end: number }): Readable {
    // 1 MiB reads: the default 64 KiB made a 200 MiB pull 3200 thread-pool reads and as many socket writes.
    return createReadStream(this.c.blobPath(digest), { highWaterMark: READ_CHUNK, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async putBlob(content: Readable | AsyncIterable<Uint8Array>, expected: { digest: string; size?: number }, opts: { repo?: string } = {}): Promise<{ digest: string; size: number }> {
    checkDigest(expected.digest);
    if (opts.repo !== undefined) checkRepoName(opts.repo, true);
    const max = Math.min(this.c.limits.maxBlobBytes, expected.size ?? Infinity);
    if (expected.size !== undefined && expected.size > this.c.limits.maxBlobBytes) throw this.tooLarge(expected.size);
    const file = join(this.c.tmpDir, tempName('blob'));
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
    if (st.size > this.c.limits.maxBlobBytes) throw this.tooLarge(st.size);
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

  tooLarge(size: number): RegistryError {
    return regError('SIZE_INVALID', `blob of ${size} bytes is larger than the ${this.c.limits.maxBlobBytes} bytes allowed`, { status: 413, detail: { limit: this.c.limits.maxBlobBytes } });
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
  /**
   * Hashes and writes `content` at `offset`. Chunks are gathered into writes of about WRITE_BATCH bytes, one in flight
   * while the next fills: a write per socket chunk (16-64 KiB) awaited in turn made a 200 MiB push thousands of
   * thread-pool round trips that the body waited on.
   */
  async writeHashed(fh: FileHandle, offset: number, h: Hash, content: AsyncIterable<Uint8Array>, max: number, exactMax = false): Promise<{ digest: string; size: number; hash: Hash }> {
    let pos = offset;
    let batch: Buffer[] = [];
    let batchLen = 0;
    let writePos = offset;
    let writing: Promise<void> = Promise.resolve();
    const flush = async (): Promise<void> => {
      await writing; // a failed write throws here, before more is queued
      const buf = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchLen);
      const at = writePos;
      writePos += batchLen;
      batch = [];
      batchLen = 0;
      writing = writeAll(fh, buf, at);
    };
    try {
      for await (const c of content) {
        const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
        if (pos + chunk.length > max) {
          if (exactMax && max < this.c.limits.maxBlobBytes) throw regError('SIZE_INVALID', `content is longer than the ${max} bytes expected`, { detail: { expected: max } });
          throw this.tooLarge(pos + chunk.length);
        }
        h.update(chunk);
        batch.push(chunk);
        batchLen += chunk.length;
        pos += chunk.length;
        if (batchLen >= WRITE_BATCH) await flush();
      }
      if (batchLen > 0) await flush();
      await writing;
    } catch (e) {
      await writing.catch(() => undefined); // nothing may write into the file once the caller cleans it up
      throw e;
    }
    return { digest: `sha256:${h.copy().digest('hex')}`, size: pos, hash: h };
  }

  /** Makes a verified file visible (or drops it when the blob is already stored), linked in `repo`. */
  commitFile(file: string, digest: string, size: number, repo: string | undefined, uploadUuid?: string): void {
    const s = this.c.d.s;
    this.c.tx(() => {
      if (s.blob.get(digest)) {
        s.refreshBlob.run(this.c.now(), digest);
        unlinkSync(file);
      } else {
        renameSync(file, this.c.blobPath(digest));
        s.insertBlob.run(digest, size, this.c.now());
      }
      if (repo !== undefined) s.insertLink.run(repo, digest);
      if (uploadUuid !== undefined) s.deleteUpload.run(uploadUuid);
    });
  }

  /** Makes an already stored blob visible in `repo` when `from` (if given) holds it; false when it cannot. */
  mountBlob(repo: string, digest: string, from?: string): boolean {
    const s = this.c.d.s;
    return this.c.tx(() => {
      if (!s.blob.get(digest)) return false;
      if (from !== undefined && !s.link.get(from, digest)) return false;
      s.insertLink.run(repo, digest);
      s.refreshBlob.run(this.c.now(), digest); // a push in progress: protect it until its manifest arrives
      return true;
    });
  }

  /** Removes a blob from `repo` (DELETE /v2/<name>/blobs/<digest>); its bytes go at the next gc if nothing needs them. */
  unlinkBlob(repo: string, digest: string): void {
    const r = this.c.d.s.deleteLink.run(repo, digest);
    if (r.changes === 0) throw regError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${repo}`, { detail: { digest } });
  }
}

const WRITE_BATCH = 1024 * 1024;
const READ_CHUNK = 1024 * 1024;

async function writeAll(fh: FileHandle, buf: Buffer, at: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, at + done);
    done += bytesWritten;
  }
}
