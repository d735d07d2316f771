/**
 * What an OCI sandbox sees that the host mounts for it (runc cannot make these
 * from inside the sandbox's user namespace), all made by one run of
 * native/hangar-idmount per start:
 *   - a private writable root: overlay(idmapped shared tree, tmpfs upper) so the
 *     sandbox's root owns what the image's root owns, writes stay private and
 *     count against its memory (tmpfs pages are charged to the writer's memcg);
 *   - `image` mounts: one read-only loop mount per source file, shared by every
 *     sandbox using it and bound into each;
 *   - a sysfs of the sandbox's own network namespace.
 *
 * Layout under the driver's state dir:
 *   roots/<id>/            0700, owned by the sandbox's root: runc resolves bind
 *                          sources as that id
 *              w/          tmpfs: upper/, work/, files/ (copies of small read-only
 *                          file binds, so the sandbox's mountinfo names no host path)
 *              rootfs/     the overlay the sandbox boots from
 *              sys/        sysfs of its netns
 *   images/<key>/          a shared image mount (key = hash of the source path)
 *   sandboxes/<id>/mounts.json  {"images":[key…]}: written before anything is
 *                          mounted; the set of these files is the reference count,
 *                          so a restarted node knows who uses which image mount.
 */
import { createHash } from 'node:crypto';
import { chmod, chown, copyFile, mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxMount, SandboxSpec } from '../../core/ports/runtime.js';
import { HangarError } from '../../lib/errors.js';
import { exec } from '../../lib/exec.js';
import { SANDBOX_ID_BASE } from '../../lib/idmap.js';
import { Mutex } from '../../lib/mutex.js';
import { rootDir } from './spec.js';

/** Read-only file binds up to this size are copied into the sandbox's tmpfs (config files such as /etc/hosts). */
const COPY_MAX_BYTES = 64 * 1024;
const RECORD = 'mounts.json';

/** Where the sandbox's config finds what was mounted for it (see OciConfigOptions). */
export interface HostView {
  root?: { path: string; readonly: boolean };
  /** Host dir holding a sysfs of the sandbox's netns. */
  sysfs?: string;
  /** image mount source → the shared host mount to bind. */
  images: ReadonlyMap<string, string>;
  /** read-only bind source → its copy on the sandbox's tmpfs. */
  copies: ReadonlyMap<string, string>;
}

interface MountsRecord {
  images: string[];
}

type ImageMount = Extract<SandboxMount, { type: 'image' }>;

export class HostMounts {
  readonly rootsDir: string;
  readonly imagesDir: string;
  /** Image mounts are made and dropped one decision at a time (in this process; the record files span restarts). */
  private readonly images = new Mutex();

  constructor(
    private readonly stateDir: string,
    private readonly sandboxesDir: string,
    private readonly helper: string,
  ) {
    this.rootsDir = join(stateDir, 'roots');
    this.imagesDir = join(stateDir, 'images');
  }

  /** Made once per driver: runc (as a sandbox's root) only needs to search these, never list them. */
  async init(): Promise<void> {
    await Promise.all([mkdir(this.rootsDir, { recursive: true, mode: 0o711 }), mkdir(this.imagesDir, { recursive: true, mode: 0o711 })]);
    await Promise.all([chmod(this.stateDir, 0o711), chmod(this.rootsDir, 0o711), chmod(this.imagesDir, 0o711)]);
  }

  private imageKey(source: string): string {
    return createHash('sha256').update(source).digest('hex').slice(0, 32);
  }

  /** Mounts what `spec` needs; the sandbox state dir exists. On failure the caller runs release(). */
  async prepare(spec: SandboxSpec): Promise<HostView> {
    const { id } = spec;
    const imageMounts = spec.mounts.filter((m): m is ImageMount => m.type === 'image');
    const writable = spec.root.kind === 'dir' ? spec.root.writable : undefined;
    const images = new Map(imageMounts.map((m) => [m.source, join(this.imagesDir, this.imageKey(m.source))]));
    const view: HostView = { images, copies: new Map() };
    if (!writable && !spec.netnsPath && images.size === 0) return view;
    // Recorded first: a crash after mounting must still find who uses what.
    const record: MountsRecord = { images: [...new Set([...images.values()].map((p) => p.slice(this.imagesDir.length + 1)))] };
    await writeFile(join(this.sandboxesDir, id, RECORD), JSON.stringify(record));
    const dir = join(this.rootsDir, id);
    const args = ['setup', writable || spec.netnsPath ? dir : '-'];
    if (writable || spec.netnsPath) {
      const idBase = spec.idMapBase ?? SANDBOX_ID_BASE;
      await mkdir(dir, { mode: 0o700 });
      await chown(dir, idBase, idBase);
      if (writable) {
        args.push('root', rootDir(spec), String(idBase), String(Math.max(1024 * 1024, Math.floor(writable.sizeBytes))));
        view.root = { path: join(dir, 'rootfs'), readonly: false };
      }
      if (spec.netnsPath) {
        args.push('sysfs', spec.netnsPath);
        view.sysfs = join(dir, 'sys');
      }
    }
    if (imageMounts.length === 0) await this.run(args, id); // something to do: a root or a sysfs
    else {
      await this.images.run(async () => {
        const base = await stat(this.imagesDir);
        for (const m of imageMounts) {
          const mnt = images.get(m.source) as string;
          const st = await stat(mnt).catch(() => undefined);
          if (st && st.dev !== base.dev) continue; // mounted for an earlier sandbox
          if (!args.includes(mnt)) args.push('image', m.source, mnt);
        }
        if (args.length > 2) await this.run(args, id);
      });
    }
    if (writable) view.copies = await this.copyFiles(spec, join(dir, 'w', 'files'));
    return view;
  }

  private async copyFiles(spec: SandboxSpec, filesDir: string): Promise<Map<string, string>> {
    const copies = new Map<string, string>();
    for (const m of spec.mounts) {
      if (m.type !== 'bind' || !m.readonly || copies.has(m.source)) continue;
      const st = await stat(m.source).catch(() => undefined);
      if (!st?.isFile() || st.size > COPY_MAX_BYTES) continue;
      const to = join(filesDir, String(copies.size));
      await copyFile(m.source, to);
      await chmod(to, 0o444);
      copies.set(m.source, to);
    }
    return copies;
  }

  private async run(args: string[], id: string): Promise<void> {
    const r = await exec(this.helper, args, { allowFailure: true, timeoutMs: 30_000 });
    if (r.code !== 0) throw new HangarError('unavailable', `sandbox ${id}: ${r.stderr.trim() || `${this.helper} exit ${r.code}`}`);
  }

  /** Undoes prepare(): its own mounts, and each shared image mount no other sandbox's record names. Idempotent. */
  async release(id: string): Promise<void> {
    const dir = join(this.rootsDir, id);
    const hasDir = await stat(dir).then(
      () => true,
      () => false,
    );
    const mine = await this.readRecord(id);
    if (!hasDir && (!mine || mine.images.length === 0)) return;
    await this.images.run(async () => {
      const args = ['teardown', hasDir ? dir : '-'];
      if (mine && mine.images.length > 0) {
        const used = await this.usedByOthers(id);
        for (const key of mine.images) if (!used.has(key) && /^[0-9a-f]{32}$/.test(key)) args.push('image', join(this.imagesDir, key));
      }
      if (hasDir || args.length > 2) await this.run(args, id);
      // rmdir, never a recursive rm: a mount that is still there must not be emptied.
      if (hasDir) await rmdir(dir);
      await writeFile(join(this.sandboxesDir, id, RECORD), JSON.stringify({ images: [] })).catch(() => undefined);
    });
  }

  private async readRecord(id: string): Promise<MountsRecord | undefined> {
    const text = await readFile(join(this.sandboxesDir, id, RECORD), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const r = JSON.parse(text) as Partial<MountsRecord>;
      return { images: Array.isArray(r.images) ? r.images.filter((k): k is string => typeof k === 'string') : [] };
    } catch {
      return undefined;
    }
  }

  private async usedByOthers(id: string): Promise<Set<string>> {
    const used = new Set<string>();
    const ids = await readdir(this.sandboxesDir).catch(() => [] as string[]);
    for (const other of ids) {
      if (other === id) continue;
      for (const key of (await this.readRecord(other))?.images ?? []) used.add(key);
    }
    return used;
  }

  /** Image mounts no sandbox's record names (left by a crash before the record was cleared); for `hangar node cleanup`. */
  async sweep(): Promise<number> {
    const keys = await readdir(this.imagesDir).catch(() => [] as string[]);
    if (keys.length === 0) return 0;
    return this.images.run(async () => {
      const used = await this.usedByOthers('');
      const stale = keys.filter((k) => !used.has(k) && /^[0-9a-f]{32}$/.test(k));
      if (stale.length > 0) await this.run(['teardown', '-', ...stale.flatMap((k) => ['image', join(this.imagesDir, k)])], 'sweep');
      return stale.length;
    });
  }
}
