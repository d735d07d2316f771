/**
 * Checks, before runc runs, that a shared read-only rootfs already has every
 * path runc would otherwise create in it (mountpoints, bind targets, the
 * working directory). runc creates missing ones with mkdir/mknod before the
 * root is remounted read-only, which would write into a tree other sandboxes
 * share; failing early with a clear error keeps it pristine. A writable root
 * is the sandbox's own overlay: there the runtime may make them, and only the
 * sources are checked.
 */
import { lstat, readlink, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { SandboxSpec } from '../../core/ports/runtime.js';
import { HangarError } from '../../lib/errors.js';
import { REQUIRED_MOUNTPOINTS, rootDir, SANDBOX_TMPFS } from './spec.js';

const MAX_SYMLINKS = 40;

/**
 * Host path of `path` inside `root`, resolving symlinks the way the sandbox
 * would see them (absolute links and `..` stay inside root). undefined if a
 * component does not exist.
 */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const todo = path.split('/').filter((c) => c !== '' && c !== '.');
  todo.reverse();
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.pop() as string;
    if (c === '..') {
      done.pop();
      continue;
    }
    const host = `${root}/${[...done, c].join('/')}`;
    let st;
    try {
      st = await lstat(host);
    } catch {
      return undefined;
    }
    if (!st.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++links > MAX_SYMLINKS) return undefined;
    const target = await readlink(host);
    if (target.startsWith('/')) done.length = 0;
    const parts = target.split('/').filter((p) => p !== '' && p !== '.');
    for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i] as string);
  }
  return done.length === 0 ? root : `${root}/${done.join('/')}`;
}

function missing(root: string, what: string): HangarError {
  return new HangarError('failed_precondition', `rootfs ${root} has no ${what}; the rootfs is shared and read-only, so the image must provide it`);
}

async function kindOf(hostPath: string | undefined): Promise<'dir' | 'file' | 'other' | undefined> {
  if (hostPath === undefined) return undefined;
  const st = await stat(hostPath).catch(() => undefined);
  if (!st) return undefined;
  return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
}

/** Inside a tmpfs the sandbox gets (the runtime creates missing mountpoints there, not in the rootfs). */
const under = (path: string, dirs: readonly string[]): boolean => dirs.some((d) => path.startsWith(`${d.replace(/\/+$/, '')}/`));

export async function checkRootfs(spec: SandboxSpec): Promise<void> {
  const root = rootDir(spec);
  if (!isAbsolute(root)) throw new HangarError('invalid_argument', `rootfs ${root} is not absolute`, { field: 'root.path' });
  if ((await kindOf(root)) !== 'dir') throw new HangarError('failed_precondition', `rootfs ${root} is not a directory`);
  const writable = spec.root.kind === 'dir' && spec.root.writable !== undefined;
  for (const m of spec.mounts) {
    if (m.type !== 'image') continue;
    // The host shares one mount per source among sandboxes: only read-only EROFS.
    if (m.fsType !== 'erofs' || !m.readonly) throw new HangarError('failed_precondition', `image mount at ${m.target}: only read-only erofs images are supported`, { field: 'mounts' });
    if (!isAbsolute(m.source)) throw new HangarError('invalid_argument', `image source ${m.source} is not absolute`, { field: 'mounts' });
  }
  const checks: Array<Promise<void>> = [];
  const needs = (path: string, kind: 'dir' | 'file', what: string): void => {
    if (writable) return;
    checks.push(
      resolveInRoot(root, path).then(kindOf).then((k) => {
        if (k !== kind) throw missing(root, what);
      }),
    );
  };
  for (const mp of REQUIRED_MOUNTPOINTS) needs(mp, 'dir', `mountpoint directory ${mp}`);
  const cwd = spec.process.cwd || '/';
  needs(cwd, 'dir', `working directory ${cwd}`);
  // Made in order: a target inside an earlier tmpfs is created there by the runtime, not in the rootfs.
  const tmpfs: string[] = [...SANDBOX_TMPFS];
  const target = (path: string, field: string, source: string | undefined, as: 'source' | 'dir' | 'file'): void => {
    if (!isAbsolute(path)) throw new HangarError('invalid_argument', `mount target ${path} is not absolute`, { field });
    const onTmpfs = writable || under(path, tmpfs);
    checks.push(
      (source === undefined ? Promise.resolve<'dir'>('dir') : kindOf(source)).then(async (k) => {
        if (k === undefined || k === 'other') throw new HangarError('failed_precondition', `${source} (for ${path}) does not exist on the host`);
        if (onTmpfs) return;
        const want = as === 'source' ? k : as;
        const what = want === 'file' ? `regular file ${path} to bind-mount ${source} on` : `directory ${path} to mount on`;
        if ((await kindOf(await resolveInRoot(root, path))) !== want) throw missing(root, what);
      }),
    );
  };
  for (const m of spec.mounts) {
    if (m.type === 'bind') target(m.target, 'mounts', m.source, 'source');
    else target(m.target, 'mounts', m.type === 'image' ? m.source : undefined, 'dir');
    if (m.type === 'tmpfs') tmpfs.push(m.target);
  }
  for (const d of spec.devices) target(d.path, 'devices', d.source, 'file');
  const results = await Promise.allSettled(checks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
