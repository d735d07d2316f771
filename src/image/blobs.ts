/**
 * Content-addressed blob directory `<root>/blobs/sha256/<hex>`. A blob becomes
 * visible only by a rename of a staged file whose digest and size were verified,
 * so every file in the directory is exactly the content its name says.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { invalid } from '../lib/errors.js';
import { digestHex, sha256 } from './digest.js';
import { fsyncPath } from './fs-util.js';

export interface BlobRef {
  digest: string;
  size: number;
}

const HEX_RE = /^[a-f0-9]{64}$/;

export class BlobStore {
  readonly dir: string;

  /** `layoutRoot` is the directory holding `blobs/` (the store is also a valid OCI layout blob tree). */
  constructor(readonly layoutRoot: string) {
    this.dir = join(layoutRoot, 'blobs', 'sha256');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  path(digest: string): string {
    return join(this.dir, digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch {
      return false;
    }
  }

  /** Copies `src` to `dst` (a new file), hashing on the way; throws invalid_argument unless it is exactly `ref`. */
  static async copyVerified(src: string, dst: string, ref: BlobRef, what: string): Promise<void> {
    const h = createHash('sha256');
    let size = 0;
    await pipeline(
      createReadStream(src),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          h.update(chunk);
          size += chunk.length;
          if (size > ref.size) throw invalid('image', `${what} blob ${ref.digest} is larger than its descriptor's ${ref.size} bytes`);
          yield chunk;
        }
      },
      createWriteStream(dst, { flags: 'wx', mode: 0o644 }),
    );
    const got = `sha256:${h.digest('hex')}`;
    if (size !== ref.size) throw invalid('image', `${what} blob ${ref.digest} is ${size} bytes, its descriptor says ${ref.size}`);
    if (got !== ref.digest) throw invalid('image', `${what} blob digest mismatch: expected ${ref.digest}, content hashes to ${got}`);
    await fsyncPath(dst);
  }

  /** Writes bytes to a new staged file after checking they hash to `digest`. */
  static async writeVerified(bytes: Buffer, dst: string, digest: string): Promise<void> {
    if (sha256(bytes) !== digest) throw invalid('image', `blob digest mismatch for ${digest}`);
    const fh = await open(dst, 'wx', 0o644);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Moves a verified staged file into place. A blob already present is identical by construction, so it wins. */
  async commit(stagedPath: string, digest: string): Promise<void> {
    if (await this.has(digest)) {
      await rm(stagedPath, { force: true });
      return;
    }
    await rename(stagedPath, this.path(digest));
  }

  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Digests of every stored blob (stray names are reported as-is so the caller can remove them). */
  async list(): Promise<{ digests: string[]; strays: string[] }> {
    const digests: string[] = [];
    const strays: string[] = [];
    for (const name of await readdir(this.dir)) {
      if (HEX_RE.test(name)) digests.push(`sha256:${name}`);
      else strays.push(join(this.dir, name));
    }
    return { digests, strays };
  }

  async syncDir(): Promise<void> {
    await fsyncPath(this.dir);
  }
}
