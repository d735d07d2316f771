/**
 * Verified staging of blobs an import brings: a blob is copied (or written)
 * into the import's staging area only if it is exactly the content its
 * descriptor names; the registry then takes the staged file over.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { invalid } from '../lib/errors.js';
import { sha256 } from '../lib/digest.js';
import { fsyncPath, writeNewFile } from '../lib/fs-util.js';

export interface BlobRef {
  digest: string;
  size: number;
}

/** Copies `src` to `dst` (a new file), hashing on the way; throws invalid_argument unless it is exactly `ref`. */
export async function copyVerified(src: string, dst: string, ref: BlobRef, what: string): Promise<void> {
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
export async function writeVerified(bytes: Buffer, dst: string, digest: string): Promise<void> {
  if (sha256(bytes) !== digest) throw invalid('image', `blob digest mismatch for ${digest}`);
  await writeNewFile(dst, bytes);
}
