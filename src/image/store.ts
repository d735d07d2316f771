/**
 * LocalImageStore: the images this node can run, on top of the node's
 * registry storage (one content store for pushes, imports and pulls):
 *
 *   refs      `name:tag` is repository `name`, tag `tag`; `name@sha256:…` is that manifest in `name`
 *   blobs     the registry's content store (shared with /v2/)
 *   rootfs/   under `root`: one unpacked rootfs per platform manifest digest, shared read-only
 *   tmp/      under `root`: import staging; whatever a dead process left there goes at init()
 *
 * import() verifies every blob (digest, size, each layer's uncompressed digest
 * against the config's diff_ids) in staging before handing them to the
 * registry, and tags last, so an interrupted or refused import leaves no tag.
 * Without a registry given, the store opens one rooted at its own `root`
 * (what the node does too, so the CLI and the node share it).
 */
import { mkdir, readdir, readFile, rename, rm, stat, chmod } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { MemoryPinStore } from '../core/images/memory-pins.js';
import { ImageInUseError, ImageService } from '../core/images/service.js';
import { systemClock } from '../core/ports/clock.js';
import type { ImageRecord, ImageStore, ResolvedImage } from '../core/ports/images.js';
import { HangarError, asHangarError, invalid } from '../lib/errors.js';
import { isStaleTemp, tempName } from '../lib/fs-util.js';
import { SANDBOX_ID_BASE } from '../lib/idmap.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { Mutex } from '../lib/mutex.js';
import { indexChildren } from '../oci/manifest.js';
import { DEFAULT_TAG, lookupNames, parseReference, repositoryName, type ImageReference } from '../oci/reference.js';
import type { LocalRegistry } from '../registry/ports.js';
import { DiskRegistry } from '../registry/store.js';
import { EMPTY_CONFIG, ImageFactsCache, type ImageFacts } from './facts.js';
import { nameImages } from './naming.js';
import { extractOciArchive } from './oci-archive.js';
import { readOciLayout } from './oci-layout.js';
import { RootfsCache } from './rootfs.js';
import { stageBlobs } from './stage.js';

export interface LocalImageStoreOptions {
  /** Directory of the store, normally $HANGAR_HOME/images. */
  root: string;
  /** The node's registry storage; default: a DiskRegistry rooted at `root`, opened by init(). */
  registry?: LocalRegistry;
  /** Whether an image may be removed and what gc keeps (default: a service that knows no holders or pins). */
  rules?: ImageRules;
  logger?: Logger;
  /** Host id of uid/gid 0 inside sandboxes (default SANDBOX_ID_BASE). */
  idBase?: number;
}

/** An image the registry holds, as a lookup found it. */
export interface StoredImage {
  /** The reference as the caller gave it (for messages). */
  asked: string;
  /** Canonical: `repo:tag`, or `repo@sha256:…` when asked by digest. */
  ref: string;
  repo: string;
  digest: string;
}

/** The local store as the puller needs it: a lookup it did is not done again. */
export interface LocalImages extends ImageStore {
  resolveStored(image: StoredImage): Promise<ResolvedImage>;
}

/** What the store asks the image service: may this go, what must gc keep. */
export type ImageRules = Pick<ImageService, 'guardRemoval' | 'collect' | 'refusal'>;

export interface ImportOptions {
  /** Store the image under this `name[:tag]` instead of the name its annotations give. */
  ref?: string;
}

interface Hit {
  repo: string;
  tag?: string;
  digest: string;
  updatedAt?: string;
}

const notOnNode = (ref: string): HangarError => new HangarError('not_found', `image '${ref}' not found on this node`);

export class LocalImageStore implements LocalImages {
  readonly root: string;
  readonly registry: LocalRegistry;
  private readonly ownRegistry: DiskRegistry | undefined;
  private readonly tmpDir: string;
  private readonly log: Logger;
  private readonly rules: ImageRules;
  private readonly rootfs: RootfsCache;
  private readonly facts: ImageFactsCache;
  /** Serialises imports, removals and gc. */
  private readonly mutex = new Mutex();
  private ready = false;

  constructor(opts: LocalImageStoreOptions) {
    this.root = resolvePath(opts.root);
    this.tmpDir = join(this.root, 'tmp');
    this.log = opts.logger ?? silentLogger;
    this.rules = opts.rules ?? new ImageService({ pins: new MemoryPinStore(), clock: systemClock });
    if (opts.registry) this.registry = opts.registry;
    else {
      this.ownRegistry = new DiskRegistry({ root: this.root, logger: this.log });
      this.registry = this.ownRegistry;
    }
    this.rootfs = new RootfsCache(join(this.root, 'rootfs'), this.tmpDir, (d) => this.registry.blobPath(d), opts.idBase ?? SANDBOX_ID_BASE, this.log);
    this.facts = new ImageFactsCache(this.registry);
  }

  /** Creates the directories, removes temp leftovers and rootfs trees whose image is gone; migrates a pre-registry refs.json. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o755 });
    await chmod(this.root, 0o755);
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    await this.ownRegistry?.init();
    await this.rootfs.init();
    for (const name of await readdir(this.tmpDir)) {
      if (isStaleTemp(name)) await rm(join(this.tmpDir, name), { recursive: true, force: true });
    }
    await this.migrateRefsJson();
    this.ready = true;
    await this.mutex.run(() => this.rules.collect((keep) => this.sweepRootfs(keep)));
  }

  /** Closes the registry the store opened itself. */
  close(): void {
    this.ownRegistry?.close();
  }

  private check(): void {
    if (!this.ready) throw new HangarError('internal', 'LocalImageStore used before init()');
  }

  /** Path a rootfs for `digest` has (or will have) once unpacked. */
  rootfsPath(digest: string): string {
    return this.rootfs.path(digest);
  }

  /**
   * Imports an OCI layout directory or an oci-archive tarball: every blob and
   * manifest goes into the registry, then the tag. Malformed input rejects
   * with invalid_argument and stores nothing.
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
      const records = await this.mutex.run(async () => {
        const staged = await stageBlobs(this.registry, named.map((n) => n.image), layoutDir, staging, fromArchive);
        for (const [digest, { file, size }] of staged) await this.registry.putBlobFile(file, { digest, size });
        const out: ImageRecord[] = [];
        for (const { ref, image } of named) {
          const r = parseReference(ref, 'ref');
          const repo = repositoryName(r);
          const tag = r.tag ?? DEFAULT_TAG;
          await this.registry.putManifest(repo, tag, image.manifestBytes, image.manifest.mediaType);
          const facts = this.facts.remember(image);
          const info = (await this.registry.tags(repo)).find((t) => t.tag === tag);
          out.push(this.record({ repo, tag, digest: image.manifest.digest, ...(info ? { updatedAt: info.updatedAt } : {}) }, facts));
        }
        return out;
      });
      for (const r of records) this.log.info({ ref: r.ref, digest: r.digest, sizeBytes: r.sizeBytes }, 'imported image');
      return records;
    } catch (e) {
      throw asHangarError(e);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Finds the repository and manifest a reference means: the full name first, then the name without its registry host. */
  private async lookup(r: ImageReference): Promise<Hit | undefined> {
    for (const repo of lookupNames(r)) {
      if (r.digest) {
        if (await this.registry.getManifest(repo, r.digest)) return { repo, digest: r.digest };
        continue;
      }
      const tag = r.tag ?? DEFAULT_TAG;
      const t = (await this.registry.tags(repo)).find((x) => x.tag === tag);
      if (t) return { repo, tag, digest: t.digest, updatedAt: t.updatedAt };
    }
    return undefined;
  }

  private record(hit: Hit, f: ImageFacts): ImageRecord {
    return {
      ref: hit.tag !== undefined ? `${hit.repo}:${hit.tag}` : `${hit.repo}@${hit.digest}`,
      digest: hit.digest,
      createdAt: new Date(hit.updatedAt ?? Date.now()),
      sizeBytes: f.sizeBytes,
      config: structuredClone(f.config),
      initrdOrRom: !f.runnable,
    };
  }

  /**
   * Resolves `name[:tag]`, `name@sha256:…` or `host[:port]/name[:tag]` (looked up by the
   * full name, then by the name without the host) to an unpacked rootfs.
   */
  async resolve(ref: string): Promise<ResolvedImage> {
    this.check();
    const r = parseReference(ref, 'image');
    const hit = await this.lookup(r);
    if (!hit) throw notOnNode(ref);
    return this.resolveStored({ asked: ref, ref: r.digest ? `${hit.repo}@${hit.digest}` : `${hit.repo}:${hit.tag!}`, repo: hit.repo, digest: hit.digest });
  }

  /** Resolves an image already found in the registry (by the puller) to its unpacked rootfs: no second lookup. */
  async resolveStored(image: StoredImage): Promise<ResolvedImage> {
    this.check();
    const f = await this.facts.get(image.repo, image.digest);
    if (!f.runnable) throw invalid('image', `image '${image.asked}' cannot run in a container sandbox: ${f.problem ?? 'no rootfs'}`);
    const rootfs = await this.rootfs.ensure(f.manifest);
    return { ref: image.ref, digest: image.digest, rootfs, config: structuredClone(f.config), sizeBytes: f.sizeBytes };
  }

  /** The record of one ref (same lookup rules as resolve), without unpacking anything. */
  async inspect(ref: string): Promise<ImageRecord> {
    this.check();
    const hit = await this.lookup(parseReference(ref, 'image'));
    if (!hit) throw notOnNode(ref);
    return this.record(hit, await this.facts.get(hit.repo, hit.digest));
  }

  /** One record per tag, sorted by ref. */
  async list(): Promise<ImageRecord[]> {
    this.check();
    const out: ImageRecord[] = [];
    for (const repo of await this.registry.repositories()) {
      for (const t of await this.registry.tags(repo)) {
        try {
          out.push(this.record({ repo, tag: t.tag, digest: t.digest, updatedAt: t.updatedAt }, await this.facts.get(repo, t.digest)));
        } catch (e) {
          this.log.warn({ repo, tag: t.tag, err: asHangarError(e).message }, 'cannot read a tagged image; not listed');
        }
      }
    }
    return out.sort((a, b) => a.ref.localeCompare(b.ref));
  }

  /**
   * Removes a tag (or, for `name@sha256:…`, every tag of that name on that
   * digest and the manifest itself). Refuses (failed_precondition) to remove
   * the last tag of an image an instance uses. What no tag, instance or other
   * image needs any more — blobs and rootfs — is deleted.
   */
  async remove(ref: string): Promise<ImageRecord[]> {
    this.check();
    const r = parseReference(ref, 'image');
    return this.mutex.run(async () => {
      const hits = await this.removalHits(r);
      if (hits.length === 0) throw notOnNode(ref);
      const digest = hits[0]!.digest;
      const repo = hits[0]!.repo;
      const removedTags = new Set(hits.filter((h) => h.tag !== undefined).map((h) => `${h.repo}:${h.tag!}`));
      let otherTags = 0;
      for (const other of await this.registry.repositories()) {
        for (const t of await this.registry.tags(other)) if (t.digest === digest && !removedTags.has(`${other}:${t.tag}`)) otherTags++;
      }
      const target = { ref, digest, children: await this.childrenOf(repo, digest), lastTag: otherTags === 0 };
      const records: ImageRecord[] = [];
      for (const h of hits) records.push(this.record(h, await this.facts.get(h.repo, h.digest).catch(() => ({ manifest: { digest, layers: [] }, config: EMPTY_CONFIG, sizeBytes: 0, runnable: false }))));
      await this.rules
        .guardRemoval(target, async () => {
          for (const h of hits) if (h.tag !== undefined) await this.registry.deleteTag(h.repo, h.tag);
          const stillTagged = (await this.registry.tags(repo)).some((t) => t.digest === digest);
          // Another repository's tag may keep a used image: its manifest here stays for the instances' restarts.
          if (!stillTagged && !(await this.rules.refusal({ ...target, lastTag: true }))) await this.registry.deleteManifest(repo, digest).catch(() => undefined);
        })
        .catch((e: unknown) => {
          if (e instanceof ImageInUseError) throw new HangarError('failed_precondition', `image '${ref}' (${digest}) is ${e.pinned ? 'pinned' : 'used by an instance'}; ${e.pinned ? 'unpin it' : 'delete the instance'} first`);
          throw e;
        });
      await this.rules.collect((keep) => this.collect(keep));
      for (const rec of records) this.log.info({ ref: rec.ref, digest: rec.digest }, 'removed image');
      return records;
    });
  }

  /** The entries of an index (instances may run one of them), none for a manifest. */
  private async childrenOf(repo: string, digest: string): Promise<string[]> {
    const m = await this.registry.getManifest(repo, digest);
    return m ? indexChildren(m) : [];
  }

  private async removalHits(r: ImageReference): Promise<Hit[]> {
    for (const repo of lookupNames(r)) {
      const tags = await this.registry.tags(repo);
      if (r.digest) {
        const hits: Hit[] = tags.filter((t) => t.digest === r.digest).map((t) => ({ repo, tag: t.tag, digest: t.digest, updatedAt: t.updatedAt }));
        if (hits.length > 0) return hits;
        if (await this.registry.getManifest(repo, r.digest)) return [{ repo, digest: r.digest }];
        continue;
      }
      const t = tags.find((x) => x.tag === (r.tag ?? DEFAULT_TAG));
      if (t) return [{ repo, tag: t.tag, digest: t.digest, updatedAt: t.updatedAt }];
    }
    return [];
  }

  /**
   * Garbage collection: untagged images and blobs nothing needs, except what
   * the rules keep (in use, pinned) and the extra `keep`, then their rootfs trees.
   * Returns the manifest digests removed.
   */
  async prune(keep: (digest: string) => boolean = () => false): Promise<string[]> {
    this.check();
    return this.mutex.run(() => this.rules.collect((kept) => this.collect((d) => kept(d) || keep(d))));
  }

  private async collect(keep: (digest: string) => boolean): Promise<string[]> {
    const res = await this.registry.gc(keep);
    for (const d of res.removedManifests) this.facts.forget(d);
    await this.sweepRootfs(keep);
    return res.removedManifests;
  }

  /** Removes rootfs trees whose manifest the registry no longer holds (unless kept: an instance uses it), and stray entries. */
  private async sweepRootfs(keep: (digest: string) => boolean): Promise<void> {
    const { digests, strays } = await this.rootfs.list();
    for (const d of digests) {
      if (keep(d) || (await this.registry.hasBlob(d))) continue;
      await this.rootfs.remove(d);
      this.facts.forget(d);
    }
    for (const s of strays) await rm(s, { recursive: true, force: true });
  }

  /** A store written before the registry existed kept its tags in refs.json: they become registry tags once. */
  private async migrateRefsJson(): Promise<void> {
    const file = join(this.root, 'refs.json');
    let doc: { refs?: Record<string, { digest?: string; manifestMediaType?: string }> };
    try {
      doc = JSON.parse(await readFile(file, 'utf8')) as typeof doc;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.log.error({ err: String(e) }, 'refs.json is unreadable; not migrated');
      return;
    }
    for (const [ref, e] of Object.entries(doc.refs ?? {})) {
      try {
        const r = parseReference(ref, 'ref');
        const body = await readFile(this.registry.blobPath(e.digest ?? ''));
        await this.registry.putManifest(repositoryName(r), r.tag ?? DEFAULT_TAG, body, e.manifestMediaType ?? '');
      } catch (err) {
        this.log.error({ ref, err: asHangarError(err).message }, 'could not migrate an image tag from refs.json');
      }
    }
    await rename(file, `${file}.migrated`);
    this.log.info({ refs: Object.keys(doc.refs ?? {}).length }, 'migrated refs.json into the registry');
  }
}
