/**
 * Unpacked root filesystems, one per manifest digest, at `<dir>/<hex>`. Each is
 * unpacked once into a temp directory and renamed into place, so a rootfs is
 * either complete or absent; concurrent requests for the same digest share one
 * unpack. The tree is shared read-only by every sandbox of the image.
 */
import { chmod, lchown, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HangarError, asHangarError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { digestHex } from '../lib/digest.js';
import { tempName } from '../lib/fs-util.js';
import type { LayerDescriptor } from './oci-layout.js';
import { lstatOrNull, resolveDirInRoot } from './secure-path.js';
import { unpackLayers } from './unpack.js';

/** Mount points the runtime needs, created when the image lacks them. */
const SKELETON_DIRS: ReadonlyArray<[string, number]> = [
  ['proc', 0o555],
  ['dev', 0o755],
  ['sys', 0o555],
  ['tmp', 0o1777],
  ['run', 0o755],
  ['etc', 0o755],
];
/** Files the runtime bind-mounts over: must exist as regular files. */
const SKELETON_FILES = ['resolv.conf', 'hosts', 'hostname'];

const HEX_RE = /^[a-f0-9]{64}$/;

/** Adds the directories and files the runtime mounts over, owned by sandbox root. */
export async function ensureSkeleton(root: string, idBase: number): Promise<void> {
  for (const [name, mode] of SKELETON_DIRS) {
    const p = join(root, name);
    const st = await lstatOrNull(p);
    if (st?.isDirectory() || st?.isSymbolicLink()) continue; // a symlink the runtime resolves inside the rootfs
    if (st) await rm(p, { force: true }); // a file where a mount point must be
    await mkdir(p);
    await lchown(p, idBase, idBase);
    await chmod(p, mode);
  }
  const etc = await resolveDirInRoot(root, ['etc'], {
    create: async (p) => {
      await mkdir(p);
      await lchown(p, idBase, idBase);
      await chmod(p, 0o755);
    },
  });
  for (const name of SKELETON_FILES) {
    const p = join(etc!, name);
    const st = await lstatOrNull(p);
    if (st?.isFile()) continue;
    // A symlink (e.g. to systemd-resolved's file) or anything else cannot be a bind-mount target in a read-only tree.
    if (st) await rm(p, { recursive: true, force: true });
    const fh = await open(p, 'wx', 0o644);
    try {
      await fh.chown(idBase, idBase);
      await fh.chmod(0o644);
    } finally {
      await fh.close();
    }
  }
}

export class RootfsCache {
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
    /** Path of a stored blob (the registry's content store). */
    private readonly blobPath: (digest: string) => string,
    private readonly idBase: number,
    private readonly log: Logger,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    await chmod(this.dir, 0o755);
  }

  path(digest: string): string {
    return join(this.dir, digestHex(digest));
  }

  /** The rootfs of the image whose (platform) manifest is `manifest`, unpacking its layers first if needed. */
  ensure(manifest: { digest: string; layers: readonly LayerDescriptor[] }): Promise<string> {
    const hex = digestHex(manifest.digest);
    const running = this.inflight.get(hex);
    if (running) return running;
    const p = this.unpackOnce(manifest).finally(() => this.inflight.delete(hex));
    this.inflight.set(hex, p);
    return p;
  }

  private async unpackOnce(manifest: { digest: string; layers: readonly LayerDescriptor[] }): Promise<string> {
    const final = this.path(manifest.digest);
    if ((await lstatOrNull(final))?.isDirectory()) return final;
    const started = Date.now();
    const tmp = join(this.tmpDir, tempName('rootfs'));
    await mkdir(tmp, { mode: 0o700 });
    try {
      const stats = await unpackLayers(
        manifest.layers.map((l) => ({ path: this.blobPath(l.digest), compression: l.compression, diffId: l.diffId })),
        tmp,
        // Readable by others: each sandbox maps root to its own uid range, none of them the owner's.
        { idBase: this.idBase, logger: this.log, readableByOthers: true },
      );
      await ensureSkeleton(tmp, this.idBase);
      await chmod(tmp, 0o755);
      try {
        await rename(tmp, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        await rm(tmp, { recursive: true, force: true }); // someone else finished first
      }
      this.log.info({ digest: manifest.digest, ms: Date.now() - started, ...stats }, 'unpacked image rootfs');
      return final;
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      const err = asHangarError(e);
      if (err.kind !== 'invalid_argument') throw err;
      throw new HangarError('invalid_argument', `image ${manifest.digest} cannot be unpacked: ${err.message}`, { field: 'image', cause: e });
    }
  }

  /** Removes a rootfs: renamed out of sight first, so it never appears half-deleted. */
  async remove(digest: string): Promise<void> {
    const running = this.inflight.get(digestHex(digest));
    if (running) await running.catch(() => undefined);
    const final = this.path(digest);
    if (!(await lstatOrNull(final))) return;
    const trash = join(this.tmpDir, tempName('trash'));
    await rename(final, trash);
    await rm(trash, { recursive: true, force: true });
  }

  /** Manifest digests that have a rootfs, and stray entries. */
  async list(): Promise<{ digests: string[]; strays: string[] }> {
    const digests: string[] = [];
    const strays: string[] = [];
    for (const name of await readdir(this.dir)) {
      if (HEX_RE.test(name)) digests.push(`sha256:${name}`);
      else strays.push(join(this.dir, name));
    }
    return { digests, strays };
  }
}
