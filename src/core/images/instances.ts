import type { Instance } from '../instance.js';
import type { ImageReferenceSource } from './ports.js';

/** Instances as holders of their image: by digest, and by the reference their restarts resolve again. */
export const instanceImages = (all: () => Promise<readonly Instance[]> | readonly Instance[]): ImageReferenceSource => ({
  name: 'instances',
  references: async () => (await all()).map((i) => ({ digest: i.imageDigest, ref: i.image, by: i.name, owner: i.owner })),
});
