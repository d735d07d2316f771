/** sha256 digests of buffers, files and streams. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** `sha256:<hex>` → `<hex>` (the caller has validated the digest). */
export const digestHex = (digest: string): string => digest.slice(digest.indexOf(':') + 1);

/** Digest and byte count of everything a stream yields. */
export async function digestStream(stream: Readable | AsyncIterable<Buffer>): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

export const digestFile = (path: string): Promise<{ digest: string; size: number }> => digestStream(createReadStream(path));
