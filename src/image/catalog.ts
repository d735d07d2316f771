/**
 * NodeImageCatalog: what the images API shows and changes, read from the
 * LocalRegistry (the one place images live).
 *
 * - An image is a (repository, manifest-or-index digest) pair with the tags on
 *   it; its kind, config, size and platform come from classifyImage (indexes:
 *   the entry this node would use).
 * - `users`: names of the users whose instances (any holder the image
 *   service knows) use it (by the manifest or index digest, or a child of it).
 * - Pins (`POST /v1/images`) are kept by the image service; a pinned image is
 *   a GC root and cannot be removed until unpinned. A pin's uuid is derived
 *   from its reference, so pinning the same reference twice gives the same uuid.
 * - remove() asks the image service (in use, pinned, a tag an instance was
 *   created by), deletes the tag (or every tag of a digest, and the manifest)
 *   and lets `gc` collect.
 */
import { createHash } from 'node:crypto';
import type { ImageUse, PinRecord } from '../core/images/ports.js';
import type { ImageService } from '../core/images/service.js';
import type {
  HeldImage,
  ImageCatalog,
  ImageFilter,
  PinRequest,
  PinnedImage,
  RepositoryListing,
  UnikernelParts,
} from '../core/ports/images.js';
import { HangarError, asHangarError, invalid } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import type { LocalRegistry, TagInfo } from '../registry/ports.js';
import { isRepositoryName } from '../oci/names.js';
import type { ImagePuller } from './puller.js';
import { DEFAULT_TAG, formatReference, lookupNames, parseReference } from '../oci/reference.js';
import { indexChildren } from '../oci/manifest.js';
import { isKernelOrRomImage, type ImageInfo } from './unikraft.js';

export interface CatalogOptions {
  registry: LocalRegistry;
  puller: ImagePuller;
  /** Owns pins and the in-use and removal rules. */
  images: ImageService;
  userName: (uuid: string) => Promise<string | undefined> | string | undefined;
  /** Collects what a removal left unreferenced (asking the image service what to keep). */
  gc?: () => Promise<unknown>;
  logger?: Logger;
}

export interface Viewer {
  uuid: string;
  admin: boolean;
}

const ADMIN: Viewer = { uuid: '', admin: true };

/** A UUID-shaped id derived from a string (stable across restarts). */
export function stableUuid(s: string): string {
  const h = createHash('sha256').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}


export class NodeImageCatalog implements ImageCatalog {
  private readonly o: CatalogOptions;
  private readonly log: Logger;

  constructor(o: CatalogOptions) {
    this.o = o;
    this.log = o.logger ?? silentLogger;
  }

  // --- listing ----------------------------------------------------------------

  private async describe(repo: string, digest: string): Promise<{ info: ImageInfo; children: string[] } | undefined> {
    const m = await this.o.registry.getManifest(repo, digest);
    if (!m) return undefined;
    const children = indexChildren(m);
    try {
      return { info: await this.o.puller.describe(repo, m), children };
    } catch (e) {
      this.log.warn({ repo, digest, err: asHangarError(e).message }, 'cannot describe a stored image; left out of the listing');
      return undefined;
    }
  }

  /** (repo, digest) → tags, over every repository, plus untagged images that pins or holders keep. */
  private async groups(pins: readonly PinRecord[], uses: readonly ImageUse[]): Promise<Map<string, { repo: string; digest: string; tags: TagInfo[] }>> {
    const out = new Map<string, { repo: string; digest: string; tags: TagInfo[] }>();
    for (const repo of await this.o.registry.repositories()) {
      for (const t of await this.o.registry.tags(repo)) {
        const key = `${repo}@${t.digest}`;
        const g = out.get(key) ?? { repo, digest: t.digest, tags: [] };
        g.tags.push(t);
        out.set(key, g);
      }
    }
    for (const p of pins) {
      if (p.digest && !out.has(`${p.repo}@${p.digest}`)) out.set(`${p.repo}@${p.digest}`, { repo: p.repo, digest: p.digest, tags: [] });
    }
    // Untagged images instances were created from (a pull by digest): listed under the repository their reference names.
    const known = new Set<string>();
    for (const g of out.values()) {
      known.add(g.digest);
      const m = await this.o.registry.getManifest(g.repo, g.digest);
      if (m) for (const c of indexChildren(m)) known.add(c);
    }
    for (const u of uses) {
      if (u.digest === undefined || u.ref === undefined || known.has(u.digest)) continue;
      let names: string[];
      try {
        names = lookupNames(parseReference(u.ref)).filter(isRepositoryName);
      } catch {
        continue;
      }
      for (const repo of names) {
        if (await this.o.registry.getManifest(repo, u.digest)) {
          out.set(`${repo}@${u.digest}`, { repo, digest: u.digest, tags: [] });
          known.add(u.digest);
          break;
        }
      }
    }
    return out;
  }

  async list(filter: ImageFilter = {}, viewer: Viewer = ADMIN): Promise<HeldImage[]> {
    const pins = await this.o.images.pins();
    const pinned = await this.o.images.pinnedTest();
    const uses = await this.o.images.uses();
    const out: HeldImage[] = [];
    const tagMatch = filter.tag !== undefined ? tagMatcher(filter.tag) : undefined;
    for (const g of (await this.groups(pins, uses)).values()) {
      if (tagMatch && !g.tags.some((t) => tagMatch(g.repo, t.tag))) continue;
      if (!(await this.o.images.canRead(viewer, g.repo))) continue;
      const d = await this.describe(g.repo, g.digest);
      if (!d) continue;
      const digests = new Set([g.digest, ...d.children]);
      if (filter.digest !== undefined && !digests.has(filter.digest)) continue;
      const tags = [...g.tags].sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
      const userUuids = new Set(uses.filter((u) => u.owner !== undefined && u.digest !== undefined && digests.has(u.digest)).map((u) => u.owner!));
      const users: string[] = [];
      for (const u of userUuids) if (viewer.admin || u === viewer.uuid) users.push((await this.o.userName(u)) ?? u);
      users.sort();
      const created = d.info.created ?? tags[0]?.updatedAt;
      out.push({
        repo: g.repo,
        digest: g.digest,
        tags: tags.map((t) => t.tag),
        createdAt: new Date(created && !Number.isNaN(Date.parse(created)) ? created : 0),
        sizeBytes: d.info.sizeBytes,
        config: d.info.config,
        kind: d.info.kind,
        initrdOrRom: isKernelOrRomImage(d.info),
        platform: d.info.platform,
        owner: tags.find((t) => t.pushedBy !== undefined)?.pushedBy,
        users,
        pinned: [...digests].some(pinned),
        ...(isKernelOrRomImage(d.info) ? { unikernel: unikernelParts(d.info) } : {}),
      });
    }
    // A bare tag (`v1`) that named no repository: match it as a tag of any repository.
    if (filter.tag !== undefined && out.length === 0 && /^[\w][\w.-]*$/.test(filter.tag) && !filter.tag.includes(':')) {
      const all = await this.list({ ...(filter.digest !== undefined ? { digest: filter.digest } : {}) }, viewer);
      return all.filter((i) => i.tags.includes(filter.tag!));
    }
    return out.sort((a, b) => a.repo.localeCompare(b.repo) || b.createdAt.getTime() - a.createdAt.getTime());
  }

  async repositories(viewer: Viewer = ADMIN): Promise<RepositoryListing[]> {
    const out: RepositoryListing[] = [];
    const sizes = new Map<string, number>();
    for (const repo of (await this.o.registry.repositories()).sort()) {
      if (!(await this.o.images.canRead(viewer, repo))) continue;
      const tags: RepositoryListing['tags'] = [];
      for (const t of await this.o.registry.tags(repo)) {
        let size = sizes.get(t.digest);
        if (size === undefined) {
          size = (await this.describe(repo, t.digest))?.info.sizeBytes ?? 0;
          sizes.set(t.digest, size);
        }
        tags.push({ name: t.tag, digest: t.digest, size, pushTime: t.updatedAt });
      }
      tags.sort((a, b) => a.name.localeCompare(b.name));
      out.push({ name: repo, tags });
    }
    return out;
  }

  // --- pins -------------------------------------------------------------------

  async pins(viewer: Viewer): Promise<PinnedImage[]> {
    return (await this.o.images.pins()).filter((p) => viewer.admin || p.owner === viewer.uuid).map(publicPin);
  }

  async pin(owner: string, req: PinRequest): Promise<PinnedImage> {
    const r = parseReference(req.url, 'url');
    const url = formatReference(r);
    const uuid = stableUuid(url);
    const policy = req.source.pullPolicy ?? 'if_not_present';
    const work = (async (): Promise<PinRecord> => {
      let hit = policy === 'always' ? undefined : await this.o.puller.localHit(r, req.source.user);
      let repo = hit?.repo;
      let digest = hit?.manifest.digest;
      if (!hit) {
        if (policy === 'never') throw new HangarError('not_found', `url: image '${req.url}' is not on this node and pull_policy is 'never'`);
        const pulled = await this.o.puller.pull(req.url, req.source);
        repo = pulled.repo;
        digest = pulled.digest;
      }
      const m = await this.o.registry.getManifest(repo!, digest!);
      const children = m ? indexChildren(m) : [];
      const tags = (await this.o.registry.tags(repo!)).filter((t) => t.digest === digest).map((t) => t.tag);
      const previous = (await this.o.images.pins()).find((p) => p.uuid === uuid);
      const rec: PinRecord = {
        uuid,
        url,
        repo: repo!,
        digest,
        tags,
        createdAt: previous?.createdAt ?? new Date().toISOString(),
        state: 'ready',
        owner,
        ...(req.autokillMs !== undefined ? { expiresAt: new Date(Date.now() + req.autokillMs).toISOString() } : {}),
        ...(children.length > 0 ? { children } : {}),
      };
      await this.o.images.pin(rec);
      return rec;
    })();
    if (req.timeoutS === 0) {
      work.catch((e: unknown) => this.log.warn({ url, err: asHangarError(e).message }, 'background pull for a pin failed'));
      return { uuid, url, repo: r.path, digest: undefined, tags: [], createdAt: new Date().toISOString(), state: 'pulling', owner };
    }
    if (req.timeoutS < 0) return publicPin(await work);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HangarError('timeout', `url: '${req.url}' is still being pulled after ${req.timeoutS} s; the pin takes effect when the pull finishes`)), req.timeoutS * 1000);
    });
    work.catch(() => undefined); // a failure after the timeout has nobody to tell but the log
    try {
      return publicPin(await Promise.race([work, timeout]));
    } finally {
      clearTimeout(timer);
    }
  }

  async unpin(uuid: string, viewer: Viewer): Promise<PinnedImage> {
    const p = (await this.o.images.pins()).find((x) => x.uuid === uuid);
    if (!p || (!viewer.admin && p.owner !== viewer.uuid)) throw new HangarError('not_found', `No pinned image with UUID '${uuid}'`);
    await this.o.images.unpin(uuid);
    return publicPin(p);
  }

  // --- removal ----------------------------------------------------------------

  async remove(ref: string, viewer: Viewer = ADMIN): Promise<HeldImage[]> {
    const r = parseReference(ref, 'image');
    const hit = await this.o.puller.localHit(r, viewer);
    if (!hit) throw new HangarError('not_found', `image '${ref}' not found on this node`);
    const repo = hit.repo;
    if (!(await this.o.images.canWrite(viewer, repo))) throw new HangarError('permission_denied', `only the node admin or the owner of repository '${repo}' can remove '${ref}'`);
    const digest = hit.manifest.digest;
    const before = (await this.list({ digest })).filter((i) => i.repo === repo && i.digest === digest);
    const tags = (await this.o.registry.tags(repo)).filter((t) => t.digest === digest).map((t) => t.tag);
    const removedTag = r.digest === undefined ? (r.tag ?? DEFAULT_TAG) : undefined;
    // Only the last tag on a digest (or a by-digest removal) takes the image away.
    const lastTag = r.digest !== undefined || tags.length <= 1 || !tags.includes(removedTag!);
    const target = { ref, digest, children: indexChildren(hit.manifest), lastTag, ...(removedTag !== undefined ? { tag: { repo, tag: removedTag } } : {}) };
    await this.o.images.guardRemoval(target, async () => {
      if (r.digest !== undefined) {
        for (const t of tags) await this.o.registry.deleteTag(repo, t);
        await this.o.registry.deleteManifest(repo, digest);
      } else {
        await this.o.registry.deleteTag(repo, removedTag!);
      }
    });
    this.log.info({ ref, repo, digest }, 'removed image');
    if (lastTag && this.o.gc) await this.o.gc().catch((e: unknown) => this.log.warn({ err: asHangarError(e).message }, 'gc after image removal failed'));
    return before.map((i) => ({ ...i, tags: r.digest !== undefined ? i.tags : i.tags.filter((t) => t === removedTag) }));
  }
}

function publicPin(p: PinRecord): PinnedImage {
  const { children: _children, ...rest } = p;
  return rest;
}

/** Matches `name:tag` / `host/name:tag` / `name` (→ latest) against (repo, tag). */
function tagMatcher(spec: string): (repo: string, tag: string) => boolean {
  let r;
  try {
    r = parseReference(spec, 'tag');
  } catch {
    throw invalid('tag', `'${spec.slice(0, 80)}' is not an image reference`);
  }
  const names = lookupNames(r).filter(isRepositoryName);
  const want = r.tag ?? 'latest';
  return (repo, tag) => names.includes(repo) && tag === want;
}

function unikernelParts(info: ImageInfo): UnikernelParts {
  const part = (p: { digest: string; size: number; path: string }) => ({ digest: p.digest, size: p.size, path: p.path });
  return {
    ...(info.kernel ? { kernel: part(info.kernel) } : {}),
    ...(info.initrd ? { initrd: part(info.initrd) } : {}),
    roms: info.roms.map((r) => ({ ...(r.name !== undefined ? { name: r.name } : {}), digest: r.digest, size: r.size, ...(r.format ? { format: r.format } : {}), aligned: r.aligned })),
    ...(info.osVersion !== undefined ? { osVersion: info.osVersion } : {}),
    osFeatures: info.osFeatures,
    ...(info.urunc ? { urunc: info.urunc.values } : {}),
  };
}
