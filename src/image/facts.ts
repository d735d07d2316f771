/**
 * What listing and resolving need of a stored image (its platform manifest,
 * config, size, whether a container sandbox can run it), read once per
 * digest: content is immutable, so the cache is never stale, only dropped
 * when the image goes.
 */
import { readFile } from 'node:fs/promises';
import type { ImageConfig } from '../core/ports/images.js';
import { HangarError, asHangarError, invalid } from '../lib/errors.js';
import { INDEX_TYPES, MANIFEST_TYPES } from '../oci/media-types.js';
import type { LocalRegistry } from '../registry/ports.js';
import { pickFromIndex, readImageByManifest, type Descriptor, type LayerDescriptor, type LayoutImage } from './oci-layout.js';

export /** What list() and resolve() need of an image, read once per (immutable) digest. */
interface ImageFacts {
  /** The platform manifest (the target itself, or the linux/amd64 entry of an index). */
  manifest: { digest: string; layers: LayerDescriptor[] };
  config: ImageConfig;
  sizeBytes: number;
  /** False for images without a runnable container rootfs (Unikraft ROM/initrd packages, artifacts). */
  runnable: boolean;
  /** Why it is not runnable. */
  problem?: string;
}

export const EMPTY_CONFIG: ImageConfig = { entrypoint: [], cmd: [], env: [], workingDir: '', user: '' };

/** Facts of an image readOciLayout/readImageByManifest accepted (so every layer is an unpackable tar). */
const factsOf = (img: LayoutImage): ImageFacts => ({ manifest: { digest: img.manifest.digest, layers: img.layers }, config: img.config, sizeBytes: img.sizeBytes, runnable: true });

export class ImageFactsCache {
  private readonly byDigest = new Map<string, ImageFacts>();

  constructor(private readonly registry: LocalRegistry) {}

  /** Facts of an image just imported (its layout was read and checked already). */
  remember(img: LayoutImage): ImageFacts {
    const f = factsOf(img);
    this.byDigest.set(img.manifest.digest, f);
    return f;
  }

  forget(digest: string): void {
    this.byDigest.delete(digest);
  }

  /** Facts of the image `digest` in `repo`; an index resolves to its linux/amd64 manifest. */
  async get(repo: string, digest: string): Promise<ImageFacts> {
    const cached = this.byDigest.get(digest);
    if (cached) return cached;
    const stored = await this.registry.getManifest(repo, digest);
    if (!stored) throw new HangarError('not_found', `image '${repo}@${digest}' not found on this node`);
    const top: Descriptor = { mediaType: stored.mediaType, digest, size: stored.body.length };
    const src = (d: string): string => this.registry.blobPath(d);
    let facts: ImageFacts;
    try {
      const desc = INDEX_TYPES.has(top.mediaType) ? await pickFromIndex(src, top) : top;
      if (!MANIFEST_TYPES.has(desc.mediaType)) throw invalid('image', `unexpected manifest type ${desc.mediaType}`);
      facts = factsOf(await readImageByManifest(src, desc));
    } catch (e) {
      const err = asHangarError(e);
      if (err.kind !== 'invalid_argument') throw err;
      facts = await this.unrunnable(top, err.message);
    }
    this.byDigest.set(digest, facts);
    return facts;
  }

  /** Best-effort facts of an image that is no runnable container image (Unikraft package, artifact). */
  private async unrunnable(top: Descriptor, problem: string): Promise<ImageFacts> {
    let sizeBytes = 0;
    try {
      const doc = JSON.parse(await readFile(this.registry.blobPath(top.digest), 'utf8')) as { layers?: Array<{ size?: unknown }> };
      for (const l of doc.layers ?? []) if (typeof l.size === 'number') sizeBytes += l.size;
    } catch {
      // keep 0
    }
    return { manifest: { digest: top.digest, layers: [] }, config: EMPTY_CONFIG, sizeBytes, runnable: false, problem };
  }
}
