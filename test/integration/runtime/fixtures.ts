/**
 * Fixtures for the runtime integration tests: the shim binary, a busybox
 * rootfs laid out like the image unpacker's (mountpoints, empty resolv.conf and
 * hosts, owned by the sandbox root), a network namespace with a veth pair to
 * the host, and polling helpers. Not a test file by itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, copyFile, lchown, lstat, mkdir, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { HangarError } from '../../../src/lib/errors.js';
import { SANDBOX_ID_BASE } from '../../../src/lib/idmap.js';

/** The repository root (this file runs from dist/test/integration/runtime/). */
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** Builds build/bin/hangar-shim (and hangar-idmount, which the runc driver finds beside it) with the Makefile rules and returns the shim's path. */
export function buildShim(): string {
  execFileSync('make', ['--no-print-directory', 'build/bin/hangar-shim', 'build/bin/hangar-idmount'], { cwd: repoRoot, stdio: 'pipe' });
  return join(repoRoot, 'build/bin/hangar-shim');
}

const APPLETS = ['sh', 'sleep', 'cat', 'echo', 'id', 'ls', 'head', 'tr', 'usleep', 'touch', 'mkdir', 'httpd', 'grep', 'stat', 'dd', 'rm'];

/**
 * A rootfs with /bin/busybox (static) and a few applet links, the mountpoints
 * the runc driver needs, empty /etc/resolv.conf and /etc/hosts, and /www/index.html;
 * everything owned by host uid/gid SANDBOX_ID_BASE (root inside).
 */
export async function makeBusyboxRootfs(root: string): Promise<void> {
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc', 'run', 'www', 'mnt', 'data']) await mkdir(join(root, d), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin/busybox'));
  await chmod(join(root, 'bin/busybox'), 0o755);
  for (const a of APPLETS) await symlink('busybox', join(root, 'bin', a));
  await writeFile(join(root, 'etc/resolv.conf'), '');
  await writeFile(join(root, 'etc/hosts'), '');
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  await writeFile(join(root, 'www/index.html'), 'hello from hangar\n');
  await chmod(join(root, 'tmp'), 0o1777);
  await chownTree(root, SANDBOX_ID_BASE, SANDBOX_ID_BASE);
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await lchown(path, uid, gid);
  const st = await lstat(path);
  if (!st.isDirectory()) return;
  for (const e of await readdir(path)) await chownTree(join(path, e), uid, gid);
}

/** Every entry of a tree with what a write would change (for "the rootfs stays unmodified"). */
export async function snapshotTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const p = join(root, rel);
    const st = await lstat(p);
    const link = st.isSymbolicLink() ? await readlink(p) : '';
    out.set(rel || '.', [st.mode, st.uid, st.gid, st.size, st.mtimeMs, st.ctimeMs, link].join(' '));
    if (st.isDirectory()) for (const e of (await readdir(p)).sort()) await walk(join(rel, e));
  };
  await walk('');
  return out;
}

const ip = (...args: string[]): string => execFileSync('ip', args, { stdio: 'pipe' }).toString();

export interface TestNetns {
  name: string;
  path: string;
  hostIp: string;
  sandboxIp: string;
  destroy(): void;
}

/**
 * A network namespace (ip netns add) joined to the host by a veth pair, with
 * 10.251.<n>.1/30 on the host end and 10.251.<n>.2/30 inside.
 */
export function createNetns(tag: string): TestNetns {
  const n = 1 + Math.floor(Math.random() * 250);
  const name = `hangar-test-${tag}-${process.pid}`;
  const hostIf = `hgt${n}h${process.pid % 1000}`;
  const nsIf = `hgt${n}s${process.pid % 1000}`;
  const hostIp = `10.251.${n}.1`;
  const sandboxIp = `10.251.${n}.2`;
  const destroy = (): void => {
    try {
      ip('netns', 'del', name);
    } catch {
      // already gone
    }
    try {
      ip('link', 'del', hostIf);
    } catch {
      // went with the namespace
    }
  };
  try {
    ip('netns', 'add', name);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', name);
    ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('-n', name, 'addr', 'add', `${sandboxIp}/30`, 'dev', nsIf);
    ip('-n', name, 'link', 'set', nsIf, 'up');
    ip('-n', name, 'link', 'set', 'lo', 'up');
  } catch (e) {
    destroy();
    throw e;
  }
  return { name, path: `/run/netns/${name}`, hostIp, sandboxIp, destroy };
}

export const netnsExists = (name: string): boolean => existsSync(`/run/netns/${name}`);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every `intervalMs` until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T> | T,
  timeoutMs = 5000,
  intervalMs = 20,
): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as Exclude<T, undefined | null | false | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Rejects if `p` takes longer than `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** Whether a process exists (not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of processes whose command line mentions `s` (stray shims or runtimes). */
export function pidsMentioning(s: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'latin1').includes(s)) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** A start of '/nonexistent/app' was refused with runc's reason, as a HangarError the API maps to 503. */
export function assertNoSuchBinary(err: unknown): void {
  assert.ok(err instanceof HangarError, String(err));
  assert.equal(err.kind, 'unavailable');
  assert.match(err.message, /\/nonexistent\/app/);
  assert.match(err.message, /no such file or directory/i);
}
