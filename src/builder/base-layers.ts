/**
 * The layers of a base image, one per recipe entry: the skeleton, host
 * files (busybox with its applets, binaries with the libraries `ldd`
 * lists), or Debian packages unpacked with `mmdebstrap --variant=extract`.
 * Each is a reproducible uncompressed tar (sorted, fixed mtimes, root owner).
 */
import { lstat, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { digestFile } from '../lib/digest.js';
import { readSettings } from '../lib/settings.js';
import { HangarError } from '../lib/errors.js';
import { exec } from '../lib/exec.js';
import { FIXED_MTIME, type TarEntrySpec } from '../image/tar-writer.js';
import type { RecipeLayer } from './base-images.js';
import type { ProgressFn } from './events.js';
import { excludeMatcher, TarFileWriter, tarDirectory, type FileBlob } from './layer.js';
import { skeletonLayer } from './skeleton.js';

async function lddClosure(binary: string): Promise<string[]> {
  const r = await exec('ldd', [binary], { allowFailure: true });
  if (r.code !== 0) throw new HangarError('unavailable', `ldd ${binary}: ${r.stderr.trim() || r.stdout.trim()}`);
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

/** Host files a layer takes, for the cache key (their content is hashed). */
export async function hostInputs(layer: RecipeLayer): Promise<string[]> {
  if ('host' in layer && 'busybox' in layer.host) return [layer.host.busybox];
  if ('host' in layer && 'binaries' in layer.host) {
    const out: string[] = [];
    for (const b of layer.host.binaries) out.push(b, ...(await lddClosure(b)));
    return out;
  }
  return [];
}

/** Adds a host path to a layer's entry list: its parent dirs, symlinks along the way (followed), the file. */
async function addHostPath(path: string, entries: Map<string, TarEntrySpec>, depth = 0): Promise<void> {
  if (depth > 16) throw new HangarError('internal', `too many symlinks at ${path}`);
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const d = `${parts.slice(0, i).join('/')}/`;
    if (entries.has(d)) continue;
    const st = await lstat(`/${d}`);
    if (st.isSymbolicLink()) {
      // A symlinked parent (e.g. /lib64 on merged-/usr hosts): keep the link, follow it.
      const target = await readlink(`/${d.slice(0, -1)}`);
      entries.set(d.slice(0, -1), { path: d.slice(0, -1), type: 'symlink', linkpath: target, mtime: FIXED_MTIME });
      const real = resolve(`/${parts.slice(0, i - 1).join('/')}`, target);
      await addHostPath(`${real}/${parts.slice(i).join('/')}`, entries, depth + 1);
      return;
    }
    entries.set(d, { path: d, type: 'dir', mode: st.mode & 0o7777, mtime: FIXED_MTIME });
  }
  const rel = parts.join('/');
  const st = await lstat(path);
  if (st.isSymbolicLink()) {
    const target = await readlink(path);
    entries.set(rel, { path: rel, type: 'symlink', linkpath: target, mtime: FIXED_MTIME });
    await addHostPath(resolve(dirname(path), target), entries, depth + 1);
  } else if (st.isFile()) {
    entries.set(rel, { path: rel, type: 'file', mode: st.mode & 0o7777, mtime: FIXED_MTIME, data: await readFile(path) });
  } else {
    throw new HangarError('internal', `${path} is not a regular file`);
  }
}

async function writeEntries(entries: Iterable<TarEntrySpec>, out: string): Promise<FileBlob> {
  const w = new TarFileWriter(out);
  try {
    for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) await w.add(e);
    return await w.finish();
  } catch (e) {
    w.abort();
    throw e;
  }
}

async function busyboxLayer(busybox: string, out: string): Promise<FileBlob> {
  const list = await exec(busybox, ['--list-full']).catch((e: unknown) => {
    throw new HangarError('unavailable', `runtime base needs Debian's busybox-static at ${busybox} (apt-get install busybox-static): ${(e as Error).message}`);
  });
  const entries = new Map<string, TarEntrySpec>();
  await addHostPath(busybox, entries);
  const target = `/${busybox.split('/').filter(Boolean).join('/')}`;
  for (const applet of list.stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (`/${applet}` === target || applet.includes('..')) continue;
    const parts = applet.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = `${parts.slice(0, i).join('/')}/`;
      if (!entries.has(d)) entries.set(d, { path: d, type: 'dir', mode: 0o755, mtime: FIXED_MTIME });
    }
    entries.set(applet, { path: applet, type: 'symlink', linkpath: target, mtime: FIXED_MTIME });
  }
  return writeEntries(entries.values(), out);
}

async function binariesLayer(binaries: readonly string[], out: string): Promise<FileBlob> {
  const entries = new Map<string, TarEntrySpec>();
  for (const b of binaries) {
    await addHostPath(b, entries);
    for (const lib of await lddClosure(b)) await addHostPath(lib, entries);
  }
  return writeEntries(entries.values(), out);
}

/** What Debian's packages bring that an image does not need, or that mmdebstrap made for itself. */
const DEBIAN_EXCLUDES = [
  'dev/',
  'proc/',
  'sys/',
  'tmp/',
  'run/',
  'root/',
  'etc/apt/',
  'etc/hostname',
  'etc/hosts',
  'etc/resolv.conf',
  'etc/fstab',
  'etc/cron.daily/',
  'etc/logrotate.d/',
  'usr/share/doc/',
  'usr/share/man/',
  'usr/share/info/',
  'usr/share/locale/',
  'usr/share/lintian/',
  'usr/share/bug/',
  'var/cache/',
  'var/lib/apt/',
  'var/lib/dpkg/',
  'var/log/',
];

async function debianLayer(
  name: string,
  d: { suite: string; packages: string[]; exclude: string[] },
  work: string,
  out: string,
  progress: ProgressFn,
): Promise<FileBlob> {
  if ((await exec('sh', ['-c', 'command -v mmdebstrap'], { allowFailure: true })).code !== 0) {
    throw new HangarError('unavailable', `runtime ${name}: mmdebstrap is not installed (run: apt-get install mmdebstrap, or bash scripts/install-deps.sh)`);
  }
  const settings = readSettings();
  const mirror = settings.HANGAR_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const security = settings.HANGAR_DEBIAN_SECURITY_MIRROR ?? 'http://deb.debian.org/debian-security';
  const root = join(work, 'debian-root');
  progress({ phase: 'runtime', message: `${name}: fetching Debian ${d.suite} packages ${d.packages.join(', ')} (mmdebstrap --variant=extract)` });
  const args = [
    '--variant=extract',
    `--mode=${process.getuid?.() === 0 ? 'root' : 'unshare'}`,
    '--format=directory',
    `--include=${d.packages.join(',')}`,
    '--aptopt=Acquire::Retries "3"',
    d.suite,
    root,
    `deb ${mirror} ${d.suite} main`,
    `deb ${mirror} ${d.suite}-updates main`,
    `deb ${security} ${d.suite}-security main`,
  ];
  const r = await exec('mmdebstrap', args, { allowFailure: true, timeoutMs: 20 * 60_000 });
  if (r.code !== 0) {
    const why = r.stderr.split('\n').filter((l) => l.startsWith('E:')).pop() ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`;
    throw new HangarError('unavailable', `runtime ${name}: mmdebstrap failed: ${why}`);
  }
  progress({ phase: 'runtime', message: `${name}: writing the layer` });
  const blob = await tarDirectory(root, out, { exclude: excludeMatcher([...DEBIAN_EXCLUDES, ...d.exclude]) });
  await rm(root, { recursive: true, force: true });
  return blob;
}

export async function buildLayer(name: string, layer: RecipeLayer, work: string, out: string, progress: ProgressFn): Promise<FileBlob> {
  if ('skeleton' in layer) {
    await writeFile(out, skeletonLayer());
    const { digest, size } = await digestFile(out);
    return { path: out, digest, size };
  }
  if ('host' in layer && 'busybox' in layer.host) return busyboxLayer(layer.host.busybox, out);
  if ('host' in layer && 'binaries' in layer.host) {
    progress({ phase: 'runtime', message: `${name}: copying ${layer.host.binaries.join(', ')} and the libraries ldd lists` });
    return binariesLayer(layer.host.binaries, out);
  }
  if ('debian' in layer) return debianLayer(name, layer.debian, work, out, progress);
  throw new HangarError('internal', `runtime ${name}: unknown layer kind`);
}
