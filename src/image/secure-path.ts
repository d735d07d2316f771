/**
 * Path resolution inside a rootfs as if it were `/`: symlinks are followed but
 * absolute targets restart at the rootfs and `..` stops at it, so the result
 * is always a real directory under the rootfs, never a path outside it.
 */
import type { Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

const MAX_SYMLINK_HOPS = 40;

export class PathEscapeError extends Error {}

export async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export interface ResolveOptions {
  /** Called for a missing directory (to create it); without it a missing directory yields undefined. */
  create?: (hostPath: string) => Promise<void>;
}

/**
 * Resolves directory components under `root`. Throws PathEscapeError when a
 * component is not a directory or symlinks loop.
 */
export async function resolveDirInRoot(root: string, comps: readonly string[], opts: ResolveOptions = {}): Promise<string | undefined> {
  const cur: string[] = [];
  const pending = [...comps];
  let hops = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      cur.pop();
      continue;
    }
    const p = join(root, ...cur, c);
    const st = await lstatOrNull(p);
    if (st?.isSymbolicLink()) {
      if (++hops > MAX_SYMLINK_HOPS) throw new PathEscapeError('too many levels of symbolic links');
      const target = await readlink(p);
      if (target.startsWith('/')) cur.length = 0;
      pending.unshift(...target.split('/'));
      continue;
    }
    if (!st) {
      if (!opts.create) return undefined;
      await opts.create(p);
    } else if (!st.isDirectory()) {
      throw new PathEscapeError(`'${[...cur, c].join('/')}' is not a directory`);
    }
    cur.push(c);
  }
  return join(root, ...cur);
}
