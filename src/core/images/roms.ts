import type { Instance } from '../instance.js';
import type { OwnerRefs } from './instances.js';
import type { ImageReferenceSource, ImageUse } from './ports.js';

/**
 * Instances as holders of their ROM images: the manifest (or index) digest
 * and the reference, so the image cannot be removed and GC keeps it, and the
 * ROM layer's digest, so GC keeps that blob even if the manifest were gone.
 */
export const instanceRomImages = (all: () => Promise<readonly Instance[]> | readonly Instance[], refsOf?: OwnerRefs): ImageReferenceSource => ({
  name: 'roms',
  ...(refsOf ? { referencesOf: async (owner: string, repo: string) => (await refsOf(owner, repo)).map((ref) => ({ ref, by: 'an instance\'s ROM', owner })) } : {}),
  references: async () => {
    const out: ImageUse[] = [];
    for (const i of await all()) {
      for (const r of i.roms ?? []) {
        if (r.image === undefined) continue;
        const by = `${i.name} (ROM ${r.name})`;
        out.push({ ...(r.imageDigest ? { digest: r.imageDigest } : {}), ref: r.image, by, owner: i.owner });
        out.push({ digest: r.digest, by, owner: i.owner });
      }
    }
    return out;
  },
});
