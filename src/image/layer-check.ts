/**
 * Import-time check of a layer blob (whose digest is already verified): reads its
 * uncompressed tar once, refusing entries with absolute paths or `..` (in their
 * path or hardlink target), and returns the uncompressed digest so the caller can
 * compare it with the config's diff_id. Checks that depend on what earlier entries
 * made (symlinks) happen when the layer is unpacked.
 */
import { createHash } from 'node:crypto';
import { HangarError, invalid } from '../lib/errors.js';
import { openDecompressed } from './decompress.js';
import type { Compression } from '../oci/media-types.js';
import { forEachTarEntry } from './tar-reader.js';
import { archivePathComponents } from './unpack.js';

/** Returns the sha256 digest of the uncompressed tar; throws invalid_argument on a bad entry or corrupt data. */
export async function scanLayer(path: string, compression: Compression, label: string): Promise<string> {
  const input = openDecompressed(path, compression);
  const h = createHash('sha256');
  input.on('data', (c: Buffer) => h.update(c));
  await forEachTarEntry(
    input,
    async (e) => {
      const refuse = (why: string): HangarError => invalid('image', `${label}: entry '${e.path.slice(0, 200)}' refused: ${why}`);
      try {
        archivePathComponents(e.path);
      } catch (err) {
        throw refuse((err as Error).message);
      }
      if (e.type === 'Link') {
        try {
          if (archivePathComponents(e.linkpath ?? '').length === 0) throw new Error('empty target');
        } catch (err) {
          throw refuse(`hardlink target '${(e.linkpath ?? '').slice(0, 200)}': ${(err as Error).message}`);
        }
      }
    },
    {
      wrapError: (e) => (e instanceof HangarError ? e : invalid('image', `${label}: not a valid ${compression === 'none' ? '' : `${compression} `}tar: ${e.message}`)),
    },
  );
  return `sha256:${h.digest('hex')}`;
}
