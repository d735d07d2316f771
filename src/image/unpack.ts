/**
 * Applies image layers, in order, to a rootfs directory.
 *
 * - OCI whiteouts: `.wh.<name>` deletes <name> from lower layers, `.wh..wh..opq`
 *   empties its directory of lower-layer content; neither is materialised.
 * - Safety: entries with absolute paths or `..` are refused; parent directories
 *   are resolved with symlinks followed *inside* the root (a symlink can never
 *   lead a write outside it); an existing entry at the target path is replaced,
 *   never written through; hardlinks must name an existing non-directory inside
 *   the root; relative symlinks whose target climbs above the root are refused.
 *   Absolute symlink targets are kept as they are: inside a sandbox they resolve
 *   against the sandbox's root, and hangar itself never follows them.
 * - Ownership: every entry is owned by host id SANDBOX_ID_BASE + (uid|gid in
 *   the layer); ids outside the sandbox range become nobody (65534). Modes,
 *   including setuid/setgid/sticky bits, and mtimes are kept.
 * - Device nodes and FIFOs are skipped (the runtime provides /dev).
 */
import { lchown, link, lutimes, mkdir, open, readdir, rm, symlink, unlink, chmod } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { HangarError, invalid } from '../lib/errors.js';
import { SANDBOX_ID_BASE, SANDBOX_ID_COUNT } from '../lib/idmap.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { openDecompressed } from './decompress.js';
import { writeAll } from '../lib/fs-util.js';
import type { Compression } from '../oci/media-types.js';
import { lstatOrNull, PathEscapeError, resolveDirInRoot } from './secure-path.js';
import { forEachTarEntry, type ReadEntry } from './tar-reader.js';

export interface UnpackLayer {
  /** Path of the layer blob. */
  path: string;
  compression: Compression;
  /** When set, the uncompressed tar must hash to this digest. */
  diffId?: string;
}

export interface UnpackOptions {
  /** Host id that id 0 inside the sandbox maps to (default SANDBOX_ID_BASE). */
  idBase?: number;
  /**
   * For a tree shared by sandboxes that do not own it (each has its own uid
   * range, lib/idmap.ts): whatever the owner may read or search, others may
   * too, and setuid/setgid bits are dropped (a host user reaching the tree must
   * not run a program as its owner; sandboxes have no_new_privs anyway).
   */
  readableByOthers?: boolean;
  logger?: Logger;
}

export interface UnpackStats {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  whiteouts: number;
  skipped: number;
}

const NOBODY = 65534;
const WH_PREFIX = '.wh.';
const WH_OPAQUE = '.wh..wh..opq';

/** Splits an archive path into components, refusing absolute paths and `..`. */
export function archivePathComponents(p: string): string[] {
  if (p.startsWith('/')) throw new Error('absolute path');
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new Error("path contains '..'");
  return parts;
}

/** Applies one layer (a stream of uncompressed tar bytes) on top of `root`. */
class LayerApplier {
  /** Host paths this layer created; an opaque whiteout keeps them. */
  private readonly created = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly idBase: number,
    private readonly label: string,
    private readonly dirTimes: Map<string, Date>,
    private readonly stats: UnpackStats,
    private readonly log: Logger,
    private readonly readableByOthers = false,
  ) {}

  private modeOf(mode: number): number {
    if (!this.readableByOthers) return mode;
    return (mode & 0o1777) | (mode & 0o400 ? 0o044 : 0) | (mode & 0o100 ? 0o011 : 0);
  }

  private refuse(entryPath: string, why: string): HangarError {
    return invalid('image', `${this.label}: entry '${entryPath.slice(0, 200)}' refused: ${why}`);
  }

  private hostId(id: number | undefined): number {
    if (id === undefined || !Number.isInteger(id) || id < 0) return this.idBase;
    return this.idBase + (id < SANDBOX_ID_COUNT ? id : NOBODY);
  }

  /**
   * Resolves directory components under the root, following symlinks as if the
   * root were `/`. Missing directories are created (root-owned, 0755) when
   * `create`, else undefined is returned.
   */
  private async resolveDir(entryPath: string, comps: readonly string[], create: boolean): Promise<string | undefined> {
    try {
      return await resolveDirInRoot(this.root, comps, create ? { create: (p) => this.mkdirImplicit(p) } : {});
    } catch (e) {
      if (e instanceof PathEscapeError) throw this.refuse(entryPath, e.message);
      throw e;
    }
  }

  private async mkdirImplicit(p: string): Promise<void> {
    await mkdir(p, { mode: 0o755 });
    await lchown(p, this.idBase, this.idBase);
    await chmod(p, 0o755);
    this.created.add(p);
  }

  /** Removes whatever is at `target` unless both it and the new entry are directories; true when a directory is kept. */
  private async clear(target: string, newIsDir: boolean): Promise<boolean> {
    const st = await lstatOrNull(target);
    if (!st) return false;
    if (newIsDir && st.isDirectory()) return true;
    this.dirTimes.delete(target);
    if (st.isDirectory()) await rm(target, { recursive: true, force: true });
    else await unlink(target);
    return false;
  }

  async apply(e: ReadEntry): Promise<void> {
    let comps: string[];
    try {
      comps = archivePathComponents(e.path);
    } catch (err) {
      throw this.refuse(e.path, (err as Error).message);
    }
    if (comps.length === 0) return; // the root itself: its owner and mode are set at the end
    const name = comps[comps.length - 1]!;
    const parent = comps.slice(0, -1);
    if (name.startsWith(WH_PREFIX)) return this.whiteout(e.path, parent, name);

    const uid = this.hostId(e.uid);
    const gid = this.hostId(e.gid);
    const mode = this.modeOf((e.mode ?? (e.type === 'Directory' ? 0o755 : 0o644)) & 0o7777);
    const mtime = e.mtime ?? new Date(0);

    switch (e.type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        const dir = (await this.resolveDir(e.path, parent, true))!;
        const target = join(dir, name);
        await this.clear(target, false);
        // O_CREAT|O_EXCL: never follows a symlink that might sit at target.
        const fh = await open(target, 'wx', 0o600);
        try {
          for await (const chunk of e as AsyncIterable<Buffer>) await writeAll(fh, chunk);
          await fh.chown(uid, gid);
          await fh.chmod(mode); // after chown, which clears setuid/setgid
          await fh.utimes(mtime, mtime);
        } finally {
          await fh.close();
        }
        this.created.add(target);
        this.stats.files++;
        return;
      }
      case 'Directory': {
        const dir = (await this.resolveDir(e.path, parent, true))!;
        const target = join(dir, name);
        if (!(await this.clear(target, true))) await mkdir(target, { mode: 0o700 });
        await lchown(target, uid, gid);
        await chmod(target, mode);
        this.created.add(target);
        this.dirTimes.set(target, mtime);
        this.stats.dirs++;
        return;
      }
      case 'SymbolicLink': {
        const linkpath = e.linkpath ?? '';
        if (linkpath.length === 0) throw this.refuse(e.path, 'symlink without a target');
        const dir = (await this.resolveDir(e.path, parent, true))!;
        if (!linkpath.startsWith('/')) {
          let depth = relative(this.root, dir).split(sep).filter((c) => c !== '').length;
          for (const c of linkpath.split('/')) {
            if (c === '' || c === '.') continue;
            depth += c === '..' ? -1 : 1;
            if (depth < 0) throw this.refuse(e.path, `symlink target '${linkpath.slice(0, 200)}' points outside the root`);
          }
        }
        const target = join(dir, name);
        await this.clear(target, false);
        await symlink(linkpath, target);
        await lchown(target, uid, gid);
        await lutimes(target, mtime, mtime);
        this.created.add(target);
        this.stats.symlinks++;
        return;
      }
      case 'Link': {
        let srcComps: string[];
        try {
          srcComps = archivePathComponents(e.linkpath ?? '');
        } catch (err) {
          throw this.refuse(e.path, `hardlink target '${(e.linkpath ?? '').slice(0, 200)}': ${(err as Error).message}`);
        }
        if (srcComps.length === 0) throw this.refuse(e.path, 'hardlink without a target');
        const srcDir = await this.resolveDir(e.path, srcComps.slice(0, -1), false);
        const src = srcDir === undefined ? undefined : join(srcDir, srcComps[srcComps.length - 1]!);
        const srcStat = src === undefined ? null : await lstatOrNull(src);
        if (!src || !srcStat) throw this.refuse(e.path, `hardlink target '${e.linkpath}' does not exist`);
        if (srcStat.isDirectory()) throw this.refuse(e.path, `hardlink target '${e.linkpath}' is a directory`);
        const dir = (await this.resolveDir(e.path, parent, true))!;
        const target = join(dir, name);
        if (target === src) return;
        await this.clear(target, false);
        await link(src, target);
        this.created.add(target);
        this.stats.hardlinks++;
        return;
      }
      case 'CharacterDevice':
      case 'BlockDevice':
      case 'FIFO':
        this.log.debug({ path: e.path, type: e.type }, 'skipping device node');
        this.stats.skipped++;
        return;
      default:
        this.log.warn({ path: e.path, type: e.type }, 'skipping tar entry of unsupported type');
        this.stats.skipped++;
    }
  }

  private async whiteout(entryPath: string, parent: string[], name: string): Promise<void> {
    this.stats.whiteouts++;
    const dir = await this.resolveDir(entryPath, parent, false);
    if (dir === undefined) return; // nothing below to hide
    if (name === WH_OPAQUE) {
      for (const child of await readdir(dir)) {
        const p = join(dir, child);
        if (!this.created.has(p)) await rm(p, { recursive: true, force: true });
      }
      return;
    }
    if (name.startsWith(`${WH_PREFIX}${WH_PREFIX}`)) return; // other AUFS metadata (.wh..wh.plnk, ...)
    const victim = name.slice(WH_PREFIX.length);
    if (victim === '' || victim === '.' || victim === '..' || victim.includes('/')) throw this.refuse(entryPath, 'malformed whiteout');
    const p = join(dir, victim);
    if (this.created.has(p)) return; // whiteouts hide lower layers only
    await rm(p, { recursive: true, force: true });
  }
}

/** Applies a stream of uncompressed tar bytes to `root`; when `diffId` is given the bytes must hash to it. */
export async function applyLayer(
  input: Readable,
  root: string,
  opts: UnpackOptions & { label?: string; diffId?: string; dirTimes?: Map<string, Date>; stats?: UnpackStats } = {},
): Promise<UnpackStats> {
  const stats = opts.stats ?? emptyStats();
  const label = opts.label ?? 'layer';
  const log = opts.logger ?? silentLogger;
  const applier = new LayerApplier(root, opts.idBase ?? SANDBOX_ID_BASE, label, opts.dirTimes ?? new Map(), stats, log, opts.readableByOthers);
  const hash = opts.diffId ? createHash('sha256') : undefined;
  if (hash) input.on('data', (c: Buffer) => hash.update(c));
  await forEachTarEntry(input, (e) => applier.apply(e), {
    wrapError: (e) => (e instanceof HangarError ? e : invalid('image', `${label}: ${e.message}`)),
    onIgnored: (e) => {
      stats.skipped++;
      log.warn({ path: e.path, type: e.type }, 'skipping tar entry of unsupported type');
    },
  });
  if (hash) {
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== opts.diffId) throw invalid('image', `${label}: uncompressed content hashes to ${got}, the image config's diff_id is ${opts.diffId}`);
  }
  return stats;
}

export const emptyStats = (): UnpackStats => ({ files: 0, dirs: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, skipped: 0 });

/**
 * Applies the layers in order to `root` (an existing directory, normally empty),
 * then gives the root itself to sandbox root (SANDBOX_ID_BASE, 0755).
 */
export async function unpackLayers(layers: readonly UnpackLayer[], root: string, opts: UnpackOptions = {}): Promise<UnpackStats> {
  const idBase = opts.idBase ?? SANDBOX_ID_BASE;
  const stats = emptyStats();
  const dirTimes = new Map<string, Date>();
  for (const [i, l] of layers.entries()) {
    const input = openDecompressed(l.path, l.compression);
    const o: Parameters<typeof applyLayer>[2] = { ...opts, idBase, label: `layer ${i}`, dirTimes, stats };
    if (l.diffId) o.diffId = l.diffId;
    await applyLayer(input, root, o);
  }
  // Directory mtimes last: adding entries changed them. lutimes never follows a symlink
  // that a later layer may have put where a directory was.
  const byDepth = [...dirTimes.entries()].sort((a, b) => b[0].length - a[0].length);
  for (const [p, t] of byDepth) {
    try {
      await lutimes(p, t, t);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  await lchown(root, idBase, idBase);
  await chmod(root, 0o755);
  return stats;
}
