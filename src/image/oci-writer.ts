/**
 * Builds a single-image OCI image (config, manifest, index) from layer tarballs
 * and writes it as an OCI layout directory or an `oci-archive` tarball. Output
 * is reproducible: same inputs, same bytes, same digests.
 *
 * Layers are either in memory (`blob`) or, for big ones, files already on disk
 * whose digest is known (`file`); combineOciImages() puts several single-platform
 * images behind one nested index (e.g. linux/amd64 + kraftcloud/x86_64).
 */
import { readFileSync } from 'node:fs';
import { copyFile, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { digestHex, sha256 } from '../lib/digest.js';
import { ANNOTATION_REF_NAME, MT } from '../oci/media-types.js';
import { buildTar, type TarEntrySpec } from './tar-writer.js';

export interface OciBlobLayerInput {
  /** The layer blob exactly as stored (a tar, or a gzip-compressed tar). */
  blob: Buffer;
  mediaType?: string;
  /** Annotations on the layer descriptor. */
  annotations?: Record<string, string>;
  /** diff_id to record; default: the digest of the (decompressed) blob. Raw (non-tar) layers pass their own digest. */
  diffId?: string;
}

/** A layer blob that is already a file (too big to hold in memory); the caller vouches for digest and size. */
export interface OciFileLayerInput {
  file: string;
  digest: string;
  size: number;
  /** Digest of the uncompressed content (= digest for an uncompressed tar). */
  diffId: string;
  mediaType: string;
  annotations?: Record<string, string>;
}

export type OciLayerInput = OciBlobLayerInput | OciFileLayerInput;

export interface OciPlatform {
  os: string;
  architecture: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface OciImageInput {
  layers: OciLayerInput[];
  /** The `config` section of the image config (Entrypoint, Cmd, Env, WorkingDir, User, ...). */
  config: Record<string, unknown>;
  architecture?: string;
  os?: string;
  created?: string;
  /** `org.opencontainers.image.ref.name` on the index entry, e.g. `latest`. */
  refName?: string;
  /** Extra annotations on the index entry. */
  indexAnnotations?: Record<string, string>;
  /** Annotations of the manifest itself. */
  manifestAnnotations?: Record<string, string>;
  /** `platform` of the manifest's descriptor in the index (also sets the config's os/architecture). */
  platform?: OciPlatform;
  /** Override any part of the config JSON (tests use this to write broken images). */
  configOverride?: Record<string, unknown>;
}

export interface BuiltOciImage {
  /** digest → bytes of every in-memory blob (layers, config, manifest). */
  blobs: Map<string, Buffer>;
  /** digest → path of every file-backed layer blob. */
  files: Map<string, string>;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  /** The manifest's descriptor as index.json lists it. */
  manifestDescriptor: Record<string, unknown>;
  index: Buffer;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Assembles config, manifest and index.json for the given layers. */
export function buildOciImage(input: OciImageInput): BuiltOciImage {
  const blobs = new Map<string, Buffer>();
  const files = new Map<string, string>();
  const withAnnotations = <T extends object>(d: T, a: Record<string, string> | undefined): T => (a && Object.keys(a).length > 0 ? { ...d, annotations: a } : d);
  const layerDescs = input.layers.map((l) => {
    if ('file' in l) {
      files.set(l.digest, l.file);
      return { desc: withAnnotations({ mediaType: l.mediaType, digest: l.digest, size: l.size }, l.annotations), diffId: l.diffId };
    }
    const gz = l.blob[0] === 0x1f && l.blob[1] === 0x8b;
    const mediaType = l.mediaType ?? (gz ? MT.ociLayerGzip : MT.ociLayer);
    const digest = sha256(l.blob);
    blobs.set(digest, l.blob);
    return { desc: withAnnotations({ mediaType, digest, size: l.blob.length }, l.annotations), diffId: l.diffId ?? (gz ? sha256(gunzipSync(l.blob)) : digest) };
  });
  const p = input.platform;
  const configJson = {
    ...(input.created ? { created: input.created } : {}),
    architecture: p?.architecture ?? input.architecture ?? 'amd64',
    os: p?.os ?? input.os ?? 'linux',
    ...(p?.['os.version'] !== undefined ? { 'os.version': p['os.version'] } : {}),
    ...(p?.['os.features'] !== undefined ? { 'os.features': p['os.features'] } : {}),
    config: input.config,
    rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.diffId) },
    ...(input.configOverride ?? {}),
  };
  const config = json(configJson);
  const configDigest = sha256(config);
  blobs.set(configDigest, config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
    layers: layerDescs.map((l) => l.desc),
    ...(input.manifestAnnotations && Object.keys(input.manifestAnnotations).length > 0 ? { annotations: input.manifestAnnotations } : {}),
  });
  const manifestDigest = sha256(manifest);
  blobs.set(manifestDigest, manifest);
  const top = indexJson({ mediaType: MT.ociManifest, digest: manifestDigest, size: manifest.length, ...(p ? { platform: p } : {}) }, input);
  return { blobs, files, manifestDigest, manifestSize: manifest.length, configDigest, ...top };
}

/** index.json listing one descriptor, annotated with the ref name and any extra annotations. */
function indexJson(desc: Record<string, unknown>, o: { refName?: string; indexAnnotations?: Record<string, string> }): { manifestDescriptor: Record<string, unknown>; index: Buffer } {
  const annotations: Record<string, string> = { ...(o.indexAnnotations ?? {}) };
  if (o.refName !== undefined) annotations[ANNOTATION_REF_NAME] = o.refName;
  const manifestDescriptor = { ...desc, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) };
  return { manifestDescriptor, index: json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [manifestDescriptor] }) };
}

/**
 * Several single-platform images (each built with its `platform`) behind one
 * nested image index: index.json → index → one manifest per platform, the way
 * multi-platform images are laid out. Readers pick their platform from it.
 */
export function combineOciImages(images: readonly BuiltOciImage[], opts: { refName?: string; indexAnnotations?: Record<string, string> } = {}): BuiltOciImage & { indexDigest: string } {
  const blobs = new Map<string, Buffer>();
  const files = new Map<string, string>();
  for (const img of images) {
    for (const [d, b] of img.blobs) blobs.set(d, b);
    for (const [d, f] of img.files) files.set(d, f);
  }
  const nested = json({
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: images.map((img) => {
      const { annotations: _dropped, ...desc } = img.manifestDescriptor as { annotations?: unknown };
      return desc;
    }),
  });
  const indexDigest = sha256(nested);
  blobs.set(indexDigest, nested);
  const first = images[0];
  if (!first) throw new Error('combineOciImages: no images');
  const top = indexJson({ mediaType: MT.ociIndex, digest: indexDigest, size: nested.length }, opts);
  return { blobs, files, manifestDigest: first.manifestDigest, manifestSize: first.manifestSize, configDigest: first.configDigest, ...top, indexDigest };
}

const OCI_LAYOUT = json({ imageLayoutVersion: '1.0.0' });

/** The files of an OCI layout, in a fixed order: [relative path, bytes or the path of a file-backed blob]. */
function layoutFiles(img: BuiltOciImage): [string, Buffer | { file: string }][] {
  const files: [string, Buffer | { file: string }][] = [
    ['oci-layout', OCI_LAYOUT],
    ['index.json', img.index],
  ];
  const digests = [...new Set([...img.blobs.keys(), ...img.files.keys()])].sort();
  for (const d of digests) files.push([`blobs/sha256/${digestHex(d)}`, img.blobs.get(d) ?? { file: img.files.get(d)! }]);
  return files;
}

/** Writes the image as an OCI layout directory (created if missing). File-backed blobs are hard-linked (copied across filesystems). */
export async function writeOciLayout(img: BuiltOciImage, dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const [rel, data] of layoutFiles(img)) {
    const dest = join(dir, rel);
    if (Buffer.isBuffer(data)) {
      await writeFile(dest, data);
      continue;
    }
    await rm(dest, { force: true });
    await link(data.file, dest).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EXDEV' && e.code !== 'EPERM') throw e;
      await copyFile(data.file, dest);
    });
  }
}

/** The image as an `oci-archive` tarball (a tar of the layout directory). */
export function ociArchiveBytes(img: BuiltOciImage): Buffer {
  const entries: TarEntrySpec[] = [
    { path: 'blobs/', type: 'dir' },
    { path: 'blobs/sha256/', type: 'dir' },
  ];
  for (const [rel, data] of layoutFiles(img)) entries.push({ path: rel, type: 'file', data: Buffer.isBuffer(data) ? data : readFileSync(data.file) });
  return buildTar(entries);
}

/** Writes the `oci-archive` tarball atomically (temp file, then rename). */
export async function writeOciArchive(img: BuiltOciImage, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, ociArchiveBytes(img));
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
