/**
 * Reproducible uncompressed tar layers from directories: entries sorted by path,
 * one fixed mtime, owner root, modes kept, hardlinks kept as links, device nodes,
 * FIFOs and sockets left out (the runtime provides /dev). Written to a file while
 * hashing, so big runtime trees never sit in memory as one buffer.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { buildTar, FIXED_MTIME, type TarEntrySpec } from '../image/tar-writer.js';

export interface FileBlob {
  path: string;
  digest: string;
  size: number;
}

export interface DirLayerOptions {
  mtime?: Date;
  /** Archive path (no leading slash, `/` after directories) → true to leave it (and what is under it) out. */
  exclude?: (archivePath: string) => boolean;
  /** Prefix every archive path with this (e.g. `usr/local/`); its parent directories are not emitted. */
  prefix?: string;
}

export interface LayerStats {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  skipped: number;
}

const END_OF_ARCHIVE = 1024;

/** Sequential writer of tar entries into a file, hashing as it goes. */
export class TarFileWriter {
  private readonly out;
  private readonly hash = createHash('sha256');
  private size = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path, { mode: 0o644 });
  }

  private async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }

  /** Adds one entry (its data, if any, in memory). */
  async add(e: TarEntrySpec): Promise<void> {
    const one = buildTar([e]);
    await this.write(one.subarray(0, one.length - END_OF_ARCHIVE));
  }

  /** Writes the end-of-archive blocks and closes the file. */
  async finish(): Promise<FileBlob> {
    await this.write(Buffer.alloc(END_OF_ARCHIVE));
    this.out.end();
    await once(this.out, 'close');
    return { path: this.path, digest: `sha256:${this.hash.digest('hex')}`, size: this.size };
  }

  /** Closes the file without finishing it (after an error). */
  abort(): void {
    this.out.destroy();
  }
}

export interface TreeEntry {
  /** Path inside the tree, no leading slash, no trailing slash. */
  rel: string;
  host: string;
  st: Stats;
}

/** Every entry under `root` (not root itself), depth first, names sorted; excluded directories are not entered. */
export async function* walkSorted(root: string, exclude?: (archivePath: string) => boolean, rel = ''): AsyncGenerator<TreeEntry> {
  for (const name of (await readdir(join(root, rel))).sort()) {
    const path = `${rel}${name}`;
    const host = join(root, path);
    const st = await lstat(host);
    if (exclude?.(st.isDirectory() ? `${path}/` : path)) continue;
    yield { rel: path, host, st };
    if (st.isDirectory()) yield* walkSorted(root, exclude, `${path}/`);
  }
}

/** Tars `root` (its contents, not the folder itself) into `outFile`. */
export async function tarDirectory(root: string, outFile: string, opts: DirLayerOptions = {}): Promise<FileBlob & { stats: LayerStats }> {
  const mtime = opts.mtime ?? FIXED_MTIME;
  const prefix = opts.prefix ?? '';
  const stats: LayerStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, skipped: 0 };
  const inodes = new Map<string, string>();
  const w = new TarFileWriter(outFile);
  try {
    for await (const { rel, host, st } of walkSorted(root, opts.exclude)) {
      const path = `${prefix}${rel}`;
      if (st.isDirectory()) {
        await w.add({ path: `${path}/`, type: 'dir', mode: st.mode & 0o7777, mtime });
        stats.dirs++;
      } else if (st.isSymbolicLink()) {
        await w.add({ path, type: 'symlink', linkpath: await readlink(host), mtime });
        stats.symlinks++;
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(key) : undefined;
        if (first !== undefined) {
          await w.add({ path, type: 'hardlink', linkpath: first, mode: st.mode & 0o7777, mtime });
          stats.hardlinks++;
        } else {
          if (st.nlink > 1) inodes.set(key, path);
          await w.add({ path, type: 'file', mode: st.mode & 0o7777, mtime, data: await readFile(host) });
          stats.files++;
        }
      } else {
        stats.skipped++;
      }
    }
    return { ...(await w.finish()), stats };
  } catch (e) {
    w.abort();
    throw e;
  }
}

/**
 * A matcher for exclude patterns over archive paths: `usr/share/doc/` (that
 * directory and everything below it), `etc/hostname` (exactly that path),
 * `**∕testdata/` (a directory of that name anywhere).
 */
export function excludeMatcher(patterns: readonly string[]): (archivePath: string) => boolean {
  const anywhere = patterns.filter((p) => p.startsWith('**/')).map((p) => p.slice(3));
  const fixed = patterns.filter((p) => !p.startsWith('**/'));
  return (path) => {
    for (const p of fixed) {
      if (p.endsWith('/') ? path.startsWith(p) : path === p || path === `${p}/`) return true;
    }
    for (const p of anywhere) {
      const parts = path.split('/');
      if (p.endsWith('/') ? parts.slice(0, -1).includes(p.slice(0, -1)) : parts.includes(p)) return true;
    }
    return false;
  };
}
