/**
 * Inline ROMs: the files of a `roms[].files` entry packed as an EROFS image,
 * reproducibly (every timestamp 0, every file root-owned with fixed modes, a
 * fixed filesystem UUID, no xattrs), padded to 4096 bytes. Identical files
 * therefore give identical bytes, and the store keeps them once.
 */
import { chmod, mkdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { InlineRomFile } from '../core/ports/roms.js';
import { digestFile } from '../lib/digest.js';
import { HangarError } from '../lib/errors.js';
import { exec } from '../lib/exec.js';
import { tempName } from '../lib/fs-util.js';
import { ROM_ALIGN } from './unikraft.js';

/** Same UUID as `hangar pkg` uses: images differ only when their content does. */
const EROFS_UUID = '6861616e-6761-7200-0000-000000000000';
const MKFS_TIMEOUT_MS = 60_000;

export interface PackedRom {
  /** The padded EROFS image, inside `work`. */
  file: string;
  digest: string;
  size: number;
  /** The private folder holding it; the caller removes it. */
  work: string;
}

/** Writes `files` into a private folder under `tmpParent` and packs them; on failure nothing is left there. */
export async function packInlineRom(files: readonly InlineRomFile[], tmpParent: string): Promise<PackedRom> {
  const work = join(tmpParent, tempName('inline'));
  await mkdir(work, { mode: 0o700 });
  try {
    const tree = join(work, 'tree');
    await mkdir(tree, { mode: 0o755 });
    await chmod(tree, 0o755);
    for (const f of files) {
      const host = resolve(tree, f.path);
      // Paths were checked (relative, no '..'); this keeps a slip from writing outside the tree.
      if (!host.startsWith(`${tree}${sep}`)) throw new HangarError('invalid_argument', `file path '${f.path}' leaves the ROM`);
      await mkdirs(tree, dirname(host));
      await writeFile(host, f.data, { mode: 0o644 });
      await chmod(host, 0o644);
    }
    const file = join(work, 'rom.erofs');
    const r = await exec('mkfs.erofs', ['--quiet', '--all-root', '-x-1', '-T0', `-U${EROFS_UUID}`, file, tree], { allowFailure: true, timeoutMs: MKFS_TIMEOUT_MS });
    if (r.code !== 0) {
      const missing = /ENOENT|not found/.test(r.stderr);
      throw new HangarError('unavailable', missing ? 'mkfs.erofs is not installed (apt-get install erofs-utils)' : `mkfs.erofs: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`);
    }
    const { size } = await stat(file);
    const padded = Math.ceil(size / ROM_ALIGN) * ROM_ALIGN;
    if (padded !== size) await truncate(file, padded);
    const d = await digestFile(file);
    return { file, digest: d.digest, size: d.size, work };
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }
}

/** mkdir -p with 0755 folders (the umask would otherwise decide what lands in the image). */
async function mkdirs(root: string, dir: string): Promise<void> {
  if (dir === root) return;
  await mkdirs(root, dirname(dir));
  await mkdir(dir, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await chmod(dir, 0o755);
}
