/**
 * The node's ROM bytes, one file per content digest:
 *
 *   <root>/sha256/<hex>   a ROM's bytes (an image's ROM layer, copied from the
 *                         registry's blob; or a packed inline ROM), 0644 in
 *                         0711 folders: sandboxes run as mapped uids and must
 *                         read it through the device bind, nobody can list it
 *   <root>/tmp/           private work folders of packs and copies
 *
 * A file stays while an instance record names its digest or a lease (a
 * create or PATCH in progress) holds it; `forget` and a released lease remove
 * it otherwise, under one mutex with the lease taking, so a create cannot
 * lose its bytes between preparing them and storing its record. init() (node
 * start) empties tmp/ and removes files no instance names.
 */
import { copyFile, mkdir, open, readdir, rename, rm, stat, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstanceRom, RomFormat } from '../core/instance.js';
import type { PreparedRom, RomLease, RomSource, RomStore } from '../core/ports/roms.js';
import { digestHex } from '../lib/digest.js';
import { asHangarError, HangarError } from '../lib/errors.js';
import { tempName } from '../lib/fs-util.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { Mutex } from '../lib/mutex.js';
import { packInlineRom } from './rom-pack.js';
import type { RomImageResolver } from './rom-images.js';
import { detectRomFormat } from './unikraft.js';

export interface RomFileStoreOptions {
  root: string;
  /** Digests of the ROMs instance records name (every node's, to be safe). */
  referenced: () => Promise<ReadonlySet<string>>;
  images: Pick<RomImageResolver, 'resolve'>;
  /** Where the registry keeps a blob. */
  blobPath: (digest: string) => string;
  logger?: Logger;
  /** mkfs runs at once at most (default 2: the node shares its cores with sandboxes). */
  packConcurrency?: number;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export class RomFileStore implements RomStore {
  private readonly dir: string;
  private readonly tmp: string;
  private readonly log: Logger;
  private readonly mutex = new Mutex();
  private readonly leases = new Map<string, number>();
  private readonly slots: Array<() => void> = [];
  private packing = 0;

  constructor(private readonly o: RomFileStoreOptions) {
    this.dir = join(o.root, 'sha256');
    this.tmp = join(o.root, 'tmp');
    this.log = o.logger ?? silentLogger;
  }

  async init(): Promise<void> {
    await mkdir(this.o.root, { recursive: true, mode: 0o711 });
    await chmod(this.o.root, 0o711);
    await mkdir(this.dir, { recursive: true, mode: 0o711 });
    await chmod(this.dir, 0o711);
    await rm(this.tmp, { recursive: true, force: true });
    await mkdir(this.tmp, { mode: 0o700 });
    const refs = await this.o.referenced();
    let removed = 0;
    for (const hex of await readdir(this.dir)) {
      if (refs.has(`sha256:${hex}`)) continue;
      await rm(join(this.dir, hex), { recursive: true, force: true });
      removed++;
    }
    if (removed > 0) this.log.info({ removed }, 'removed ROM files no instance uses');
  }

  /** Host path of the bytes of `digest`. */
  path(digest: string): string {
    if (!DIGEST_RE.test(digest)) throw new HangarError('internal', `bad ROM digest ${digest}`);
    return join(this.dir, digestHex(digest));
  }

  async prepare(source: RomSource, user: { uuid: string; admin: boolean }): Promise<{ rom: PreparedRom; lease: RomLease }> {
    if (source.kind === 'inline') {
      const packed = await this.limited(() => packInlineRom(source.files, this.tmp));
      try {
        const lease = await this.hold(packed.digest, async (dest) => {
          await chmod(packed.file, 0o644);
          await rename(packed.file, dest);
        });
        return { rom: { digest: packed.digest, format: 'erofs', sizeBytes: packed.size }, lease };
      } finally {
        await rm(packed.work, { recursive: true, force: true });
      }
    }
    const img = await this.o.images.resolve(source.ref, { ...source.source, user });
    let held = false;
    try {
      const lease = await this.hold(img.layer.digest, (dest) => this.copyBlob(img.layer.digest, dest));
      try {
        const format = await formatOf(this.path(img.layer.digest));
        held = true;
        // The image stays held with the ROM bytes: until the record naming it is stored (or the create failed).
        const release = async (): Promise<void> => {
          img.release(0);
          await lease.release();
        };
        return { rom: { digest: img.layer.digest, format, sizeBytes: img.layer.size, imageDigest: img.imageDigest }, lease: { release } };
      } catch (e) {
        await lease.release();
        throw e;
      }
    } finally {
      if (!held) img.release(0);
    }
  }

  async pathFor(rom: InstanceRom): Promise<string> {
    const p = this.path(rom.digest);
    if (await exists(p)) return p;
    if (rom.image === undefined) throw new HangarError('failed_precondition', `the bytes of inline ROM '${rom.name}' (${rom.digest}) are gone from this node`);
    // An image ROM's file is a copy of its layer, which the registry keeps while the instance exists.
    await this.mutex.run(async () => {
      if (!(await exists(p))) await this.copyBlob(rom.digest, p);
    });
    return p;
  }

  forget(digests: readonly string[]): Promise<void> {
    return this.mutex.run(async () => {
      const refs = await this.o.referenced();
      for (const d of new Set(digests)) {
        if (refs.has(d) || (this.leases.get(d) ?? 0) > 0) continue;
        await rm(this.path(d), { force: true });
      }
    });
  }

  /** Takes a lease on `digest`, making its file with `make(dest)` if it is absent. */
  private async hold(digest: string, make: (dest: string) => Promise<void>): Promise<RomLease> {
    const dest = this.path(digest);
    await this.mutex.run(async () => {
      if (!(await exists(dest))) await make(dest);
      this.leases.set(digest, (this.leases.get(digest) ?? 0) + 1);
    });
    let held = true;
    return {
      release: async () => {
        if (!held) return;
        held = false;
        await this.mutex.run(async () => {
          const n = (this.leases.get(digest) ?? 1) - 1;
          if (n > 0) this.leases.set(digest, n);
          else this.leases.delete(digest);
        });
        await this.forget([digest]).catch((e: unknown) => this.log.warn({ digest, err: asHangarError(e).message }, 'removing unused ROM bytes failed'));
      },
    };
  }

  /** Copies a registry blob to `dest` through a temp file (a reader never sees half a ROM). */
  private async copyBlob(digest: string, dest: string): Promise<void> {
    const tmp = join(this.tmp, tempName('copy'));
    try {
      await copyFile(this.o.blobPath(digest), tmp);
      await chmod(tmp, 0o644);
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { force: true });
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new HangarError('not_found', `the ROM layer ${digest} is not on this node`);
      throw e;
    }
  }

  /** At most `packConcurrency` packs at once; the others wait their turn. */
  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    if (this.packing >= (this.o.packConcurrency ?? 2)) await new Promise<void>((r) => this.slots.push(r));
    this.packing++;
    try {
      return await fn();
    } finally {
      this.packing--;
      this.slots.shift()?.();
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function formatOf(path: string): Promise<RomFormat> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return detectRomFormat(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}
