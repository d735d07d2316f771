/**
 * Builds a single-image OCI image (config, manifest, index) from layer tarballs
 * and writes it as an OCI layout directory or an `oci-archive` tarball. Output
 * is reproducible: same inputs, same bytes, same digests.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { digestHex, sha256 } from './digest.js';
import { ANNOTATION_REF_NAME, MT } from './media-types.js';
import { buildTar, type TarEntrySpec } from './tar-writer.js';

export interface OciLayerInput {
  /** The layer blob exactly as stored (a tar, or a gzip-compressed tar). */
  blob: Buffer;
  mediaType?: string;
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
  /** Override any part of the config JSON (tests use this to write broken images). */
  configOverride?: Record<string, unknown>;
}

export interface BuiltOciImage {
  /** digest → bytes of every blob (layers, config, manifest). */
  blobs: Map<string, Buffer>;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  index: Buffer;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Assembles config, manifest and index.json for the given layers. */
export function buildOciImage(input: OciImageInput): BuiltOciImage {
  const blobs = new Map<string, Buffer>();
  const layerDescs = input.layers.map((l) => {
    const gz = l.blob[0] === 0x1f && l.blob[1] === 0x8b;
    const mediaType = l.mediaType ?? (gz ? MT.ociLayerGzip : MT.ociLayer);
    const digest = sha256(l.blob);
    blobs.set(digest, l.blob);
    return { desc: { mediaType, digest, size: l.blob.length }, diffId: gz ? sha256(gunzipSync(l.blob)) : digest };
  });
  const configJson = {
    ...(input.created ? { created: input.created } : {}),
    architecture: input.architecture ?? 'amd64',
    os: input.os ?? 'linux',
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
  });
  const manifestDigest = sha256(manifest);
  blobs.set(manifestDigest, manifest);
  const annotations: Record<string, string> = { ...(input.indexAnnotations ?? {}) };
  if (input.refName !== undefined) annotations[ANNOTATION_REF_NAME] = input.refName;
  const index = json({
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      {
        mediaType: MT.ociManifest,
        digest: manifestDigest,
        size: manifest.length,
        ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      },
    ],
  });
  return { blobs, manifestDigest, manifestSize: manifest.length, configDigest, index };
}

const OCI_LAYOUT = json({ imageLayoutVersion: '1.0.0' });

/** The files of an OCI layout, in a fixed order: [relative path, bytes]. */
function layoutFiles(img: BuiltOciImage): [string, Buffer][] {
  const files: [string, Buffer][] = [
    ['oci-layout', OCI_LAYOUT],
    ['index.json', img.index],
  ];
  for (const d of [...img.blobs.keys()].sort()) files.push([`blobs/sha256/${digestHex(d)}`, img.blobs.get(d)!]);
  return files;
}

/** Writes the image as an OCI layout directory (created if missing). */
export async function writeOciLayout(img: BuiltOciImage, dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const [rel, data] of layoutFiles(img)) await writeFile(join(dir, rel), data);
}

/** The image as an `oci-archive` tarball (a tar of the layout directory). */
export function ociArchiveBytes(img: BuiltOciImage): Buffer {
  const entries: TarEntrySpec[] = [
    { path: 'blobs/', type: 'dir' },
    { path: 'blobs/sha256/', type: 'dir' },
  ];
  for (const [rel, data] of layoutFiles(img)) entries.push({ path: rel, type: 'file', data });
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
