/**
 * Filesystem images for Unikraft-style packages: a directory (or an image's
 * layers) packed as EROFS (`mkfs.erofs`) or as a `newc` CPIO archive (written
 * here: sorted entries, fixed mtime, root owner, so it is reproducible), padded
 * with zeros to a multiple of 4096 bytes — the platform rejects ROMs that are
 * not page-aligned (ukc-workflows.md §2.3, §7).
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir, open, readFile, readlink, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { digestFile } from '../lib/digest.js';
import { ROM_ALIGN } from '../image/unikraft.js';
import { unpackLayers } from '../image/unpack.js';
import { FIXED_MTIME } from '../image/tar-writer.js';
import { HangarError } from '../lib/errors.js';
import { exec } from '../lib/exec.js';
import type { RootfsFormat } from './kraftfile.js';
import { walkSorted, type FileBlob } from './layer.js';
import { tempDir } from './tmp.js';

/** A fixed filesystem UUID: EROFS images then only differ when their content does. */
const EROFS_UUID = '6861616e-6761-7200-0000-000000000000';

/** The smallest multiple of `align` that holds `size` bytes. */
export const paddedSize = (size: number, align = ROM_ALIGN): number => Math.ceil(size / align) * align;

/** Appends zeros to the file up to a multiple of `align`; returns the new size. */
export async function padFile(path: string, align = ROM_ALIGN): Promise<number> {
  const { size } = await stat(path);
  const want = paddedSize(size, align);
  if (want !== size) await truncate(path, want);
  return want;
}

/** What the first bytes of a filesystem image say it is. */
export function detectFsFormat(head: Buffer): RootfsFormat | undefined {
  if (head.length >= 6 && /^07070[12]$/.test(head.subarray(0, 6).toString('latin1'))) return 'cpio';
  if (head.length >= 1028 && head.readUInt32LE(1024) === 0xe0f5e1e2) return 'erofs';
  return undefined;
}

export async function detectFsFormatOfFile(path: string): Promise<RootfsFormat | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(1028);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return detectFsFormat(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function cpioHeader(fields: { ino: number; mode: number; nlink: number; mtime: number; size: number; name: string }): Buffer {
  const name = Buffer.from(`${fields.name}\0`);
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  const head = `070701${hex(fields.ino)}${hex(fields.mode)}${hex(0)}${hex(0)}${hex(fields.nlink)}${hex(fields.mtime)}${hex(fields.size)}${hex(0)}${hex(0)}${hex(0)}${hex(0)}${hex(name.length)}${hex(0)}`;
  const used = head.length + name.length;
  return Buffer.concat([Buffer.from(head, 'latin1'), name, Buffer.alloc((4 - (used % 4)) % 4)]);
}

/** Writes `dir` as a newc CPIO archive (regular files, directories, symlinks; owner root; fixed mtime). */
export async function writeCpio(dir: string, outFile: string, mtime = FIXED_MTIME): Promise<void> {
  const out = createWriteStream(outFile, { mode: 0o644 });
  const put = async (b: Buffer): Promise<void> => {
    if (!out.write(b)) await once(out, 'drain');
  };
  const secs = Math.floor(mtime.getTime() / 1000);
  let ino = 0;
  try {
    for await (const { rel, host, st } of walkSorted(dir)) {
      const perm = st.mode & 0o7777;
      let data: Buffer;
      let mode: number;
      if (st.isDirectory()) {
        mode = S_IFDIR | perm;
        data = Buffer.alloc(0);
      } else if (st.isSymbolicLink()) {
        mode = S_IFLNK | 0o777;
        data = Buffer.from(await readlink(host));
      } else if (st.isFile()) {
        mode = S_IFREG | perm;
        data = await readFile(host);
      } else {
        continue;
      }
      await put(cpioHeader({ ino: ++ino, mode, nlink: st.isDirectory() ? 2 : 1, mtime: secs, size: data.length, name: rel }));
      await put(data);
      await put(Buffer.alloc((4 - (data.length % 4)) % 4));
    }
    await put(cpioHeader({ ino: 0, mode: 0, nlink: 1, mtime: 0, size: 0, name: 'TRAILER!!!' }));
    out.end();
    await once(out, 'close');
  } catch (e) {
    out.destroy();
    throw e;
  }
}

/** Writes `dir` as an EROFS image with mkfs.erofs (all files owned by root, one timestamp, no xattrs). */
export async function writeErofs(dir: string, outFile: string, mtime = FIXED_MTIME): Promise<void> {
  await rm(outFile, { force: true });
  const r = await exec('mkfs.erofs', ['--quiet', '--all-root', '-x-1', `-T${Math.floor(mtime.getTime() / 1000)}`, `-U${EROFS_UUID}`, outFile, dir], { allowFailure: true });
  if (r.code !== 0) {
    const missing = r.stderr.includes('ENOENT') || /not found/.test(r.stderr);
    throw new HangarError('unavailable', missing ? 'mkfs.erofs is not installed (apt-get install erofs-utils)' : `mkfs.erofs: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`);
  }
}

/** Packs a directory as `format`, padded to 4096 bytes. */
export async function packDirectory(dir: string, format: RootfsFormat, outFile: string, mtime = FIXED_MTIME): Promise<FileBlob> {
  if (format === 'erofs') await writeErofs(dir, outFile, mtime);
  else await writeCpio(dir, outFile, mtime);
  await padFile(outFile);
  const { digest, size } = await digestFile(outFile);
  return { path: outFile, digest, size };
}

/** Unpacks uncompressed image layers (bottom first) into a scratch directory and packs the tree as `format`. */
export async function packLayers(layers: ReadonlyArray<{ path: string; diffId: string }>, format: RootfsFormat, outFile: string, workParent: string): Promise<FileBlob> {
  const work = await tempDir(workParent, 'rootfs');
  try {
    const root = join(work, 'root');
    await mkdir(root);
    await unpackLayers(
      layers.map((l) => ({ path: l.path, compression: 'none' as const, diffId: l.diffId })),
      root,
      { idBase: 0 },
    );
    return await packDirectory(root, format, outFile);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
