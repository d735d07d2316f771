/**
 * Extracts an `oci-archive` tarball (a tar of an OCI layout directory, as
 * written by `skopeo copy … oci-archive:x.tar`) into a fresh directory. Only
 * the layout's own files are written — `oci-layout`, `index.json` and
 * `blobs/sha256/<hex>` — each as a new regular file; anything else is skipped,
 * and links, absolute paths or `..` are refused. The result is then read with
 * readOciLayout, which verifies it.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { invalid, type HangarError } from '../lib/errors.js';
import { writeAll } from '../lib/fs-util.js';
import { MAX_DOCUMENT_BYTES } from './oci-layout.js';
import { forEachTarEntry } from './tar-reader.js';

const FIELD = 'image';
const BLOB_RE = /^blobs\/sha256\/[a-f0-9]{64}$/;
const SKIPPED_OK = /^(blobs(\/[^/]+)*|manifest\.json|repositories)$/;

const bad = (msg: string): HangarError => invalid(FIELD, msg);

function cleanPath(p: string): string {
  if (p.startsWith('/')) throw bad(`archive entry '${p}' has an absolute path`);
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw bad(`archive entry '${p}' contains '..'`);
  return parts.join('/');
}

/** Extracts the layout files of `archivePath` into `destDir` (which must not exist yet or be empty). */
export async function extractOciArchive(archivePath: string, destDir: string): Promise<void> {
  await mkdir(join(destDir, 'blobs', 'sha256'), { recursive: true });
  const seen = new Set<string>();
  await forEachTarEntry(
    createReadStream(archivePath),
    async (entry) => {
      const rel = cleanPath(entry.path);
      if (entry.type === 'Directory' || rel === '') return;
      if (entry.type === 'SymbolicLink' || entry.type === 'Link') throw bad(`archive entry '${entry.path}' is a link; an OCI archive holds only files`);
      const isFile = entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile';
      const wanted = rel === 'oci-layout' || rel === 'index.json' || BLOB_RE.test(rel);
      if (!wanted) {
        if (!SKIPPED_OK.test(rel) && !isFile) throw bad(`archive entry '${entry.path}' has unexpected type ${entry.type}`);
        return; // data is skipped by the reader
      }
      if (!isFile) throw bad(`archive entry '${entry.path}' is a ${entry.type}, not a file`);
      if (seen.has(rel)) throw bad(`archive holds '${rel}' twice`);
      seen.add(rel);
      if (!rel.startsWith('blobs/') && entry.size > MAX_DOCUMENT_BYTES) throw bad(`${rel} is too large (${entry.size} bytes)`);
      const fh = await open(join(destDir, rel), 'wx', 0o600);
      try {
        for await (const chunk of entry as AsyncIterable<Buffer>) await writeAll(fh, chunk);
      } finally {
        await fh.close();
      }
    },
    { wrapError: (e) => bad(`'${archivePath}' is not a valid OCI archive: ${e.message}`) },
  );
  if (!seen.has('index.json')) throw bad(`'${archivePath}' is not an OCI archive: it has no index.json`);
}
