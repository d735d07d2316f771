import type { Instance } from '../instance.js';
import type { ImageReferenceSource } from './ports.js';

/** Instances as holders of their image: by digest, and by the reference their restarts resolve again. */
export const instanceImages = (all: () => Promise<readonly Instance[]> | readonly Instance[], refsOf?: OwnerRefs): ImageReferenceSource => ({
  name: 'instances',
  references: async () => (await all()).map((i) => ({ digest: i.imageDigest, ref: i.image, by: i.name, owner: i.owner })),
  ...(refsOf ? { referencesOf: async (owner: string, repo: string) => (await refsOf(owner, repo)).map((ref) => ({ ref, by: 'an instance', owner })) } : {}),
});

/** The references `owner`'s holders name whose text contains `containing` (the store's per-owner query). */
export type OwnerRefs = (owner: string, containing: string) => Promise<readonly string[]>;
