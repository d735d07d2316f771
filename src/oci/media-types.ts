/** OCI media types (and the Docker v2 equivalents hangar accepts) and annotation keys. */

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** Set by containerd, nerdctl and `docker save` (v25+): the full image name. */
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';

export const INDEX_TYPES: ReadonlySet<string> = new Set([MT.ociIndex, MT.dockerManifestList]);
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([MT.ociManifest, MT.dockerManifest]);
export const CONFIG_TYPES: ReadonlySet<string> = new Set([MT.ociConfig, MT.dockerConfig]);
/** Every manifest media type the registry stores. */
export const STORABLE_MANIFEST_TYPES: ReadonlySet<string> = new Set([...INDEX_TYPES, ...MANIFEST_TYPES]);

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

/** `application/vnd.oci.image.manifest.v1+json; charset=utf-8` → the bare media type. */
export const bareMediaType = (contentType: string | undefined): string => (contentType ?? '').split(';')[0]!.trim().toLowerCase();
