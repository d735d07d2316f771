/**
 * ROM images: a reference resolved like an instance's image (the node's
 * registry, else a pull from central or the registry the reference names,
 * by pull policy, with the ImageSpec's credentials, only from repositories
 * the user may read), then checked to be a ROM package: no kernel, no
 * rootfs, exactly one `application/vnd.unikraft.rom.v1` layer, whose raw
 * bytes are the ROM. A runnable image is refused rather than attached as data.
 */
import type { ImageSource } from '../core/ports/images.js';
import { HangarError } from '../lib/errors.js';
import { parseReference } from '../oci/reference.js';
import type { LocalRegistry } from '../registry/ports.js';
import type { ImagePuller, LocalHit } from './puller.js';

export interface RomImage {
  /** Manifest (or index) digest the reference resolved to. */
  imageDigest: string;
  /** The ROM layer: its blob holds the ROM's bytes. */
  layer: { digest: string; size: number };
  /** Ends the lease that keeps the image from GC until the instance record names it (0: now, the record is stored or the create failed). */
  release(lingerMs?: number): void;
}

export interface RomImageResolverOptions {
  puller: Pick<ImagePuller, 'localHit' | 'canPull' | 'pull' | 'describe'>;
  registry: Pick<LocalRegistry, 'getManifest'>;
  lease?: (digests: readonly string[]) => Promise<(lingerMs?: number) => void>;
}

const KIND_WORDS: Record<string, string> = {
  oci: 'a runnable container image',
  unikernel: 'a unikernel image',
  initrd: 'an initrd (a rootfs for a unikernel platform)',
  urunc: 'a urunc unikernel image',
};

export class RomImageResolver {
  constructor(private readonly o: RomImageResolverOptions) {}

  async resolve(ref: string, source: ImageSource): Promise<RomImage> {
    const r = parseReference(ref, 'image');
    const policy = source.pullPolicy ?? 'if_not_present';
    const p = this.o.puller;
    let hit: LocalHit | undefined = policy === 'always' ? undefined : await p.localHit(r, source.user);
    if (!hit) {
      if (policy === 'never') throw new HangarError('not_found', `image '${ref}' is not on this node and pull_policy is 'never'`);
      if (p.canPull(r)) {
        const pulled = await p.pull(ref, source);
        const m = await this.o.registry.getManifest(pulled.repo, pulled.digest);
        if (m) hit = { repo: pulled.repo, manifest: m };
      } else if (policy === 'always') {
        hit = await p.localHit(r, source.user);
      }
      if (!hit) throw new HangarError('not_found', `image '${ref}' not found on this node (and no central registry is configured to pull it from)`);
    }
    const release = this.o.lease ? await this.o.lease([hit.manifest.digest]) : () => undefined;
    try {
      const info = await p.describe(hit.repo, hit.manifest);
      if (info.kind !== 'rom') {
        throw new HangarError('invalid_argument', `'${ref}' is ${KIND_WORDS[info.kind] ?? info.kind}, not a ROM image (a ROM image has only application/vnd.unikraft.rom.v1 layers, as 'hangar pkg' of a ROM Kraftfile makes)`);
      }
      if (info.roms.length !== 1) throw new HangarError('invalid_argument', `'${ref}' has ${info.roms.length} ROM layers; attach an image with one ROM per entry`);
      const layer = info.roms[0]!;
      return { imageDigest: hit.manifest.digest, layer: { digest: layer.digest, size: layer.size }, release };
    } catch (e) {
      release(0);
      throw e;
    }
  }
}
