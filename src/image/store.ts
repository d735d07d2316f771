/**
 * LocalImageStore: images held by this node, under `root` ($HANGAR_HOME/images):
 *
 *   blobs/sha256/<hex>   content-addressed blobs (manifests, configs, layers)
 *   refs.json            canonical ref → manifest digest (+ created, size, config)
 *   rootfs/<hex>         unpacked rootfs per manifest digest, shared read-only
 *   tmp/                 staging; whatever a dead process left there goes at init()
 *
 * import() stages and verifies everything before anything becomes visible: blobs
 * are renamed into place only after their digests check out, and the ref is
 * written last, so an interrupted or refused import leaves no ref (and init()
 * removes any blob no ref needs). Rootfs trees are unpacked lazily by resolve().
 *
 * One process owns a store at a time (the node); refs.json writes are serialised.
 */
import { mkdir, readdir, rm, stat, chmod } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import type { ImageConfig, ImageRecord, ImageStore, ResolvedImage } from '../core/ports/images.js';
import { HangarError, asHangarError, invalid } from '../lib/errors.js';
import { SANDBOX_ID_BASE } from '../lib/idmap.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { BlobStore } from './blobs.js';
import { scanLayer } from './layer-check.js';
import { isStaleTemp, tempName } from './fs-util.js';
import { Mutex } from '../lib/mutex.js';
import { nameImages } from './naming.js';
import { extractOciArchive } from './oci-archive.js';
import { blobPath, readImageByManifest, readOciLayout, verifyBlobFile, type LayoutImage } from './oci-layout.js';
import { formatReference, parseReference } from './reference.js';
import { RefIndex, type RefEntry } from './refs.js';
import { RootfsCache } from './rootfs.js';

export interface LocalImageStoreOptions {
  /** Directory of the store, normally $HANGAR_HOME/images. */
  root: string;
  logger?: Logger;
  /** Host id of uid/gid 0 inside sandboxes (default SANDBOX_ID_BASE). */
  idBase?: number;
}

export interface ImportOptions {
  /** Store the image under this `name[:tag]` instead of the name its annotations give. */
  ref?: string;
}

const toRecord = (ref: string, e: RefEntry): ImageRecord => ({
  ref,
  digest: e.digest,
  createdAt: new Date(e.createdAt),
  sizeBytes: e.sizeBytes,
  config: structuredClone(e.config),
  initrdOrRom: false,
});

const notOnNode = (ref: string): HangarError => new HangarError('not_found', `image '${ref}' not found on this node`);

export class LocalImageStore implements ImageStore {
  readonly root: string;
  private readonly tmpDir: string;
  private readonly log: Logger;
  private readonly idBase: number;
  private readonly blobs: BlobStore;
  private readonly index: RefIndex;
  private readonly rootfs: RootfsCache;
  /** Serialises changes to refs, blobs and rootfs removal. */
  private readonly mutex = new Mutex();
  private ready = false;

  constructor(opts: LocalImageStoreOptions) {
    this.root = resolvePath(opts.root);
    this.tmpDir = join(this.root, 'tmp');
    this.log = opts.logger ?? silentLogger;
    this.idBase = opts.idBase ?? SANDBOX_ID_BASE;
    this.blobs = new BlobStore(this.root);
    this.index = new RefIndex(join(this.root, 'refs.json'), this.tmpDir);
    this.rootfs = new RootfsCache(join(this.root, 'rootfs'), this.tmpDir, this.blobs, this.idBase, this.log);
  }

  /** Creates the directories, loads refs.json, removes temp leftovers and anything no ref needs. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o755 });
    await chmod(this.root, 0o755);
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    await this.blobs.init();
    await this.rootfs.init();
    for (const name of await readdir(this.tmpDir)) {
      if (isStaleTemp(name)) await rm(join(this.tmpDir, name), { recursive: true, force: true });
    }
    await this.index.load();
    this.ready = true;
    await this.mutex.run(() => this.collectGarbage());
  }

  private check(): void {
    if (!this.ready) throw new HangarError('internal', 'LocalImageStore used before init()');
  }

  /** Path a rootfs for `digest` has (or will have) once unpacked. */
  rootfsPath(digest: string): string {
    return this.rootfs.path(digest);
  }

  /**
   * Imports an OCI layout directory or an oci-archive tarball. Every blob is verified
   * (digest, size, and each layer's uncompressed digest against the config's diff_ids).
   * Malformed input rejects with invalid_argument and stores nothing.
   */
  async import(path: string, opts: ImportOptions = {}): Promise<ImageRecord[]> {
    this.check();
    const src = resolvePath(path);
    let st;
    try {
      st = await stat(src);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw invalid('path', `'${path}' does not exist`);
      throw asHangarError(e);
    }
    if (!st.isFile() && !st.isDirectory()) throw invalid('path', `'${path}' is neither an OCI layout directory nor an oci-archive file`);
    if (opts.ref !== undefined) parseReference(opts.ref, 'ref');

    const staging = join(this.tmpDir, tempName('import'));
    await mkdir(staging, { mode: 0o700 });
    try {
      let layoutDir = src;
      const fromArchive = st.isFile();
      if (fromArchive) {
        layoutDir = join(staging, 'layout');
        await extractOciArchive(src, layoutDir);
      }
      const images = await readOciLayout(layoutDir);
      const named = nameImages(images, src, opts.ref);
      // Staging runs under the mutex too: it relies on blobs already in the store, which a
      // concurrent remove() could otherwise delete before this import's ref exists.
      const records = await this.mutex.run(async () => {
        const staged = await this.stage(named.map((n) => n.image), layoutDir, staging, fromArchive);
        for (const [digest, file] of staged) await this.blobs.commit(file, digest);
        await this.blobs.syncDir();
        const now = new Date().toISOString();
        return this.index.transaction(async () => {
          const out: ImageRecord[] = [];
          const replaced: RefEntry[] = [];
          for (const { ref, image } of named) {
            const prev = this.index.refs.get(ref);
            if (prev && prev.digest !== image.manifest.digest) replaced.push(prev);
            const entry: RefEntry = {
              digest: image.manifest.digest,
              manifestSize: image.manifest.size,
              manifestMediaType: image.manifest.mediaType,
              configDigest: image.configDescriptor.digest,
              createdAt: prev && prev.digest === image.manifest.digest ? prev.createdAt : now,
              sizeBytes: image.sizeBytes,
              config: image.config,
            };
            this.index.refs.set(ref, entry);
            this.index.dangling.delete(entry.digest);
            out.push(toRecord(ref, entry));
          }
          // An image a re-import untagged may still run in sandboxes: keep it until pruned.
          for (const old of replaced) if (!this.index.isTagged(old.digest)) this.index.dangling.set(old.digest, old);
          await this.index.save();
          return out;
        });
      });
      for (const r of records) this.log.info({ ref: r.ref, digest: r.digest, sizeBytes: r.sizeBytes }, 'imported image');
      return records;
    } catch (e) {
      throw asHangarError(e);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Verifies and stages every blob the images need that the store lacks; returns digest → staged file. */
  private async stage(images: readonly LayoutImage[], layoutDir: string, staging: string, inPlace: boolean): Promise<Map<string, string>> {
    const staged = new Map<string, string>();
    const blobDir = join(staging, 'blobs');
    await mkdir(blobDir, { recursive: true });
    const stagedPath = (digest: string): string => join(blobDir, digest.slice('sha256:'.length));
    for (const img of images) {
      if (await this.blobs.has(img.manifest.digest)) continue; // stored before, fully verified then
      for (const [i, layer] of img.layers.entries()) {
        if (staged.has(layer.digest)) continue;
        let file: string;
        if (await this.blobs.has(layer.digest)) {
          file = this.blobs.path(layer.digest);
        } else if (inPlace) {
          // Extracted from an archive into our own staging area: verify where it lies.
          file = blobPath(layoutDir, layer.digest);
          await verifyBlobFile(file, layer, `layer ${i}`);
          staged.set(layer.digest, file);
        } else {
          file = stagedPath(layer.digest);
          await BlobStore.copyVerified(blobPath(layoutDir, layer.digest), file, layer, `layer ${i}`);
          staged.set(layer.digest, file);
        }
        const diffId = await scanLayer(file, layer.compression, `layer ${i}`);
        if (diffId !== layer.diffId) {
          throw invalid('image', `layer ${i} (${layer.digest}): uncompressed content hashes to ${diffId}, the image config's diff_id is ${layer.diffId}`);
        }
      }
      // Config before manifest: the manifest's presence then means "complete".
      for (const [digest, bytes] of [
        [img.configDescriptor.digest, img.configBytes],
        [img.manifest.digest, img.manifestBytes],
      ] as const) {
        if (staged.has(digest) || (await this.blobs.has(digest))) continue;
        const file = stagedPath(digest);
        await BlobStore.writeVerified(bytes, file, digest);
        staged.set(digest, file);
      }
    }
    return staged;
  }

  /**
   * Resolves `name[:tag]`, `name@sha256:…` or `host[:port]/name[:tag]` (looked up by the
   * full name, then by the name without the host) to an unpacked rootfs.
   */
  async resolve(ref: string): Promise<ResolvedImage> {
    this.check();
    const r = parseReference(ref, 'image');
    let hit = this.index.find(r)[0];
    if (!hit && (await this.mutex.run(() => this.index.reloadIfChanged()))) hit = this.index.find(r)[0];
    if (!hit) throw notOnNode(ref);
    const { key, entry } = hit;
    const rootfs = await this.rootfs.ensure({ mediaType: entry.manifestMediaType, digest: entry.digest, size: entry.manifestSize });
    return {
      ref: r.digest ? formatReference({ ...parseReference(key), tag: undefined, digest: entry.digest }) : key,
      digest: entry.digest,
      rootfs,
      config: structuredClone(entry.config) as ImageConfig,
      sizeBytes: entry.sizeBytes,
    };
  }

  /** The record of one ref (same lookup rules as resolve), without unpacking anything. */
  async inspect(ref: string): Promise<ImageRecord> {
    this.check();
    const hit = this.index.find(parseReference(ref, 'image'))[0];
    if (!hit) throw notOnNode(ref);
    return toRecord(hit.key, hit.entry);
  }

  async list(): Promise<ImageRecord[]> {
    this.check();
    await this.mutex.run(() => this.index.reloadIfChanged());
    return [...this.index.refs.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, e]) => toRecord(k, e));
  }

  /**
   * Removes a tag (or, for `name@sha256:…`, every tag of that name on that digest).
   * When no tag is left on the digest its rootfs and the blobs only it used are deleted:
   * the caller must make sure no instance uses the image.
   */
  async remove(ref: string): Promise<ImageRecord[]> {
    this.check();
    const r = parseReference(ref, 'image');
    return this.mutex.run(async () => {
      const hits = this.index.find(r);
      if (hits.length === 0) throw notOnNode(ref);
      await this.index.transaction(async () => {
        for (const h of hits) this.index.refs.delete(h.key);
        await this.index.save();
      });
      await this.collectGarbage();
      for (const h of hits) this.log.info({ ref: h.key, digest: h.entry.digest }, 'removed image');
      return hits.map((h) => toRecord(h.key, h.entry));
    });
  }

  /**
   * Deletes images that re-imports untagged ("dangling"), except those `inUse` keeps.
   * Returns the digests removed.
   */
  async prune(inUse: (digest: string) => boolean = () => false): Promise<string[]> {
    this.check();
    return this.mutex.run(async () => {
      const gone = [...this.index.dangling.keys()].filter((d) => !inUse(d));
      if (gone.length === 0) return [];
      await this.index.transaction(async () => {
        for (const d of gone) this.index.dangling.delete(d);
        await this.index.save();
      });
      await this.collectGarbage();
      return gone;
    });
  }

  /** Removes rootfs trees and blobs that no tagged or dangling image needs. Runs under the mutex. */
  private async collectGarbage(): Promise<void> {
    const live = this.index.liveDigests();
    const keepBlobs = new Set<string>();
    for (const d of live) {
      keepBlobs.add(d);
      const e = [...this.index.refs.values()].find((x) => x.digest === d) ?? this.index.dangling.get(d);
      if (!e) continue;
      try {
        const img = await readImageByManifest(this.root, { mediaType: e.manifestMediaType, digest: d, size: e.manifestSize });
        keepBlobs.add(img.configDescriptor.digest);
        for (const l of img.layers) keepBlobs.add(l.digest);
      } catch (err) {
        // Keep whatever it might reference; say loudly that the image is damaged.
        this.log.error({ digest: d, err: asHangarError(err).message }, 'stored image is damaged; blobs kept');
        keepBlobs.add(e.configDigest);
        return this.collectRootfsOnly(live);
      }
    }
    await this.collectRootfsOnly(live);
    const { digests, strays } = await this.blobs.list();
    for (const d of digests) if (!keepBlobs.has(d)) await this.blobs.remove(d);
    for (const s of strays) await rm(s, { recursive: true, force: true });
  }

  private async collectRootfsOnly(live: Set<string>): Promise<void> {
    const { digests, strays } = await this.rootfs.list();
    for (const d of digests) if (!live.has(d)) await this.rootfs.remove(d);
    for (const s of strays) await rm(s, { recursive: true, force: true });
  }
}
