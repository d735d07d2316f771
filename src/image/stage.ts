import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { invalid } from '../lib/errors.js';
import type { LocalRegistry } from '../registry/ports.js';
import { copyVerified, writeVerified } from './blobs.js';
import { scanLayer } from './layer-check.js';
import { blobPath, verifyBlobFile, type LayoutImage } from './oci-layout.js';

/** Verifies and stages every blob the images need that the registry lacks; returns digest → staged file. */
export async function stageBlobs(registry: LocalRegistry, images: readonly LayoutImage[], layoutDir: string, staging: string, inPlace: boolean): Promise<Map<string, { file: string; size: number }>> {
  const staged = new Map<string, { file: string; size: number }>();
  const blobDir = join(staging, 'blobs');
  await mkdir(blobDir, { recursive: true });
  const stagedPath = (digest: string): string => join(blobDir, digest.slice('sha256:'.length));
  for (const img of images) {
    if (await registry.hasBlob(img.manifest.digest)) continue; // stored before, verified then
    for (const [i, layer] of img.layers.entries()) {
      if (staged.has(layer.digest)) continue;
      let file: string;
      if (await registry.hasBlob(layer.digest)) {
        file = registry.blobPath(layer.digest);
      } else if (inPlace) {
        // Extracted from an archive into our own staging area: verify where it lies.
        file = blobPath(layoutDir, layer.digest);
        await verifyBlobFile(file, layer, `layer ${i}`);
        staged.set(layer.digest, { file, size: layer.size });
      } else {
        file = stagedPath(layer.digest);
        await copyVerified(blobPath(layoutDir, layer.digest), file, layer, `layer ${i}`);
        staged.set(layer.digest, { file, size: layer.size });
      }
      const diffId = await scanLayer(file, layer.compression, `layer ${i}`);
      if (diffId !== layer.diffId) {
        throw invalid('image', `layer ${i} (${layer.digest}): uncompressed content hashes to ${diffId}, the image config's diff_id is ${layer.diffId}`);
      }
    }
    const cfg = img.configDescriptor;
    if (!staged.has(cfg.digest) && !(await registry.hasBlob(cfg.digest))) {
      await writeVerified(img.configBytes, stagedPath(cfg.digest), cfg.digest);
      staged.set(cfg.digest, { file: stagedPath(cfg.digest), size: cfg.size });
    }
  }
  return staged;
}
