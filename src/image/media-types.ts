/** Layer media types hangar can unpack; the manifest-level types live in registry/media-types. */

import { MT } from '../registry/media-types.js';

export { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, MT } from '../registry/media-types.js';

export type Compression = 'none' | 'gzip' | 'zstd';

const LAYER_TYPES: ReadonlyMap<string, Compression> = new Map<string, Compression>([
  [MT.ociLayer, 'none'],
  [MT.ociLayerGzip, 'gzip'],
  [MT.ociLayerZstd, 'zstd'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar', 'none'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'gzip'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar+zstd', 'zstd'],
  ['application/vnd.docker.image.rootfs.diff.tar', 'none'],
  [MT.dockerLayerGzip, 'gzip'],
  ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
]);

/** The compression of a layer media type, or undefined when hangar cannot unpack it. */
export const layerCompression = (mediaType: string): Compression | undefined => LAYER_TYPES.get(mediaType);
