/**
 * Checks, before runc runs, that a shared read-only rootfs already has every
 * path runc would otherwise create in it (mountpoints, bind targets, the
 * working directory). runc creates missing ones with mkdir/mknod before the
 * root is remounted read-only, which would write into a tree other sandboxes
 * share; failing early with a clear error keeps it pristine.
 */
import { lstat, readlink, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { SandboxSpec } from '../../core/ports/runtime.js';
import { HangarError } from '../../lib/errors.js';
import { REQUIRED_MOUNTPOINTS } from './spec.js';

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

function missing(spec: SandboxSpec, what: string): HangarError {
  return new HangarError(
    'failed_precondition',
    `rootfs ${spec.rootfs} has no ${what}; the rootfs is shared and read-only, so the image must provide it`,
  );
}

async function kindOf(hostPath: string | undefined): Promise<'dir' | 'file' | 'other' | undefined> {
  if (hostPath === undefined) return undefined;
  const st = await stat(hostPath).catch(() => undefined);
  if (!st) return undefined;
  return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
}

export async function checkRootfs(spec: SandboxSpec): Promise<void> {
  if (!isAbsolute(spec.rootfs)) throw new HangarError('invalid_argument', `rootfs ${spec.rootfs} is not absolute`, { field: 'rootfs' });
  if ((await kindOf(spec.rootfs)) !== 'dir') throw new HangarError('failed_precondition', `rootfs ${spec.rootfs} is not a directory`);
  const files = Object.entries(spec.files ?? {});
  const checks: Array<Promise<void>> = [];
  for (const mp of REQUIRED_MOUNTPOINTS) {
    checks.push(
      resolveInRoot(spec.rootfs, mp).then(kindOf).then((k) => {
        if (k !== 'dir') throw missing(spec, `mountpoint directory ${mp}`);
      }),
    );
  }
  const cwd = spec.process.cwd || '/';
  checks.push(
    resolveInRoot(spec.rootfs, cwd).then(kindOf).then((k) => {
      if (k !== 'dir') throw missing(spec, `working directory ${cwd}`);
    }),
  );
  for (const [dest, source] of files) {
    if (!isAbsolute(dest)) throw new HangarError('invalid_argument', `file target ${dest} is not absolute`, { field: 'files' });
    checks.push(
      resolveInRoot(spec.rootfs, dest).then(kindOf).then((k) => {
        if (k !== 'file') throw missing(spec, `regular file ${dest} to bind-mount ${source} on`);
      }),
      kindOf(source).then((k) => {
        if (k !== 'file') throw new HangarError('failed_precondition', `file ${source} (for ${dest}) does not exist on the host`);
      }),
    );
  }
  const results = await Promise.allSettled(checks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
