/**
 * Reads an OCI image layout directory (oci-layout, index.json, blobs/sha256/…):
 * index.json → manifest (through nested indexes, picking linux/amd64) → config,
 * with the OCI model of src/oci/ (its errors become invalid_argument naming `image`),
 * checking the structure of every document and the digest and size of every
 * blob it reads. Layer blobs are only located and size-checked here; their
 * digests are verified when they are copied into the store (verifyBlobFile).
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HangarError, invalid } from '../lib/errors.js';
import { isObject, parseJsonObject, type Descriptor } from '../oci/descriptor.js';
import { OciFormatError } from '../oci/errors.js';
import { parseImageManifest, parseIndex } from '../oci/manifest.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, layerCompression, type Compression } from '../oci/media-types.js';
import { isDigest } from '../oci/names.js';
import { LINUX_AMD64, entriesFitting, pickManifest, platformString } from '../oci/platform.js';
import { digestHex, digestStream, sha256 } from '../lib/digest.js';
import type { ImageConfig } from '../core/ports/images.js';

export const FIELD = 'image';
/** index.json, manifests and configs are small; anything bigger is refused before reading. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
const MAX_INDEX_DEPTH = 4;

export type { Descriptor };

export interface LayerDescriptor extends Descriptor {
  compression: Compression;
  /** Digest of the uncompressed tar, from the config's rootfs.diff_ids. */
  diffId: string;
}

export interface LayoutImage {
  /** `org.opencontainers.image.ref.name` of the index.json entry (often just a tag). */
  refName: string | undefined;
  /** `io.containerd.image.name` of the index.json entry (a full name). */
  fullName: string | undefined;
  manifest: Descriptor;
  manifestBytes: Buffer;
  configDescriptor: Descriptor;
  configBytes: Buffer;
  config: ImageConfig;
  layers: LayerDescriptor[];
  /** Sum of the layer blob sizes. */
  sizeBytes: number;
}

const bad = (msg: string): HangarError => invalid(FIELD, msg);

/** Runs a parse of the OCI model, its errors worded as this module's. */
function parsed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof OciFormatError) throw bad(e.message);
    throw e;
  }
}

/** Where blobs are: an OCI layout directory, or a function giving each blob's path (the registry's content store). */
export type BlobSource = string | ((digest: string) => string);

export const blobPath = (src: BlobSource, digest: string): string => (typeof src === 'string' ? join(src, 'blobs', 'sha256', digestHex(digest)) : src(digest));

/** Reads a small blob into memory, checking its size and digest against the descriptor. */
export async function readBlob(layoutDir: BlobSource, desc: Descriptor, what: string, max = MAX_DOCUMENT_BYTES): Promise<Buffer> {
  if (desc.size > max) throw bad(`${what} ${desc.digest} is ${desc.size} bytes, more than the ${max} allowed`);
  const path = blobPath(layoutDir, desc.digest);
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw bad(`${what} blob ${desc.digest} is missing from the layout`);
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw bad(`${what} blob ${desc.digest} is not a regular file`);
    if (st.size !== desc.size) throw bad(`${what} blob ${desc.digest} is ${st.size} bytes, its descriptor says ${desc.size}`);
    const buf = Buffer.alloc(desc.size);
    const { bytesRead } = await fh.read(buf, 0, desc.size, 0);
    if (bytesRead !== desc.size) throw bad(`${what} blob ${desc.digest} is shorter than ${desc.size} bytes`);
    const got = sha256(buf);
    if (got !== desc.digest) throw bad(`${what} blob digest mismatch: expected ${desc.digest}, content hashes to ${got}`);
    return buf;
  } finally {
    await fh.close();
  }
}

/** Checks that the file holds exactly the blob the descriptor names (streaming, any size). */
export async function verifyBlobFile(path: string, desc: Descriptor, what: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw bad(`${what} blob ${desc.digest} is missing from the layout`);
    throw e;
  }
  if (!st.isFile()) throw bad(`${what} blob ${desc.digest} is not a regular file`);
  if (st.size !== desc.size) throw bad(`${what} blob ${desc.digest} is ${st.size} bytes, its descriptor says ${desc.size}`);
  const got = await digestStream(createReadStream(path));
  if (got.size !== desc.size) throw bad(`${what} blob ${desc.digest} changed size while being read`);
  if (got.digest !== desc.digest) throw bad(`${what} blob digest mismatch: expected ${desc.digest}, content hashes to ${got.digest}`);
}

const platformsOf = (entries: readonly Descriptor[]): string =>
  entries.filter((d) => MANIFEST_TYPES.has(d.mediaType) || INDEX_TYPES.has(d.mediaType)).map((d) => platformString(d.platform) ?? 'unknown').join(', ') || 'none';

/** Picks the linux/amd64 manifest of a (nested) index. */
export async function pickFromIndex(layoutDir: BlobSource, desc: Descriptor, depth = 1): Promise<Descriptor> {
  if (depth > MAX_INDEX_DEPTH) throw bad(`indexes nested more than ${MAX_INDEX_DEPTH} deep`);
  const body = await readBlob(layoutDir, desc, 'index');
  const entries = parsed(() => parseIndex(body, `index ${desc.digest}`));
  const chosen = pickManifest(entries, LINUX_AMD64);
  if (!chosen) throw bad(`index ${desc.digest} has no linux/amd64 image (has: ${platformsOf(entries)})`);
  return INDEX_TYPES.has(chosen.mediaType) ? pickFromIndex(layoutDir, chosen, depth + 1) : chosen;
}

function stringArray(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(`image config: ${what} must be an array of strings`);
  return v as string[];
}

function optString(v: unknown, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw bad(`image config: ${what} must be a string`);
  return v;
}

/** The runnable part of an image config (Entrypoint, Cmd, Env, WorkingDir, User). */
export function imageConfigFrom(doc: Record<string, unknown>): ImageConfig {
  const c = doc['config'];
  if (c !== undefined && c !== null && !isObject(c)) throw bad(`image config: 'config' must be an object`);
  const cfg = (c ?? {}) as Record<string, unknown>;
  return {
    entrypoint: stringArray(cfg['Entrypoint'], 'Entrypoint'),
    cmd: stringArray(cfg['Cmd'], 'Cmd'),
    env: stringArray(cfg['Env'], 'Env'),
    workingDir: optString(cfg['WorkingDir'], 'WorkingDir'),
    user: optString(cfg['User'], 'User'),
  };
}

async function readImage(layoutDir: BlobSource, top: Descriptor, manifestDesc: Descriptor): Promise<LayoutImage> {
  const manifestBytes = await readBlob(layoutDir, manifestDesc, 'manifest');
  const what = `manifest ${manifestDesc.digest}`;
  const { config: configDescriptor, layers: rawLayers } = parsed(() => parseImageManifest(manifestBytes, what));
  if (!CONFIG_TYPES.has(configDescriptor.mediaType)) {
    throw bad(`${what}: config mediaType '${configDescriptor.mediaType}' is not a container image config (an artifact, not an image?)`);
  }

  const configBytes = await readBlob(layoutDir, configDescriptor, 'config');
  const configDoc = parsed(() => parseJsonObject(configBytes, `config ${configDescriptor.digest}`));
  const arch = configDoc['architecture'];
  const os = configDoc['os'];
  if ((typeof arch === 'string' && !LINUX_AMD64.architectures.includes(arch)) || (typeof os === 'string' && !LINUX_AMD64.os.includes(os))) {
    throw bad(`image is for ${String(os)}/${String(arch)}; this node runs linux/amd64`);
  }
  const rootfs = configDoc['rootfs'];
  if (!isObject(rootfs) || rootfs['type'] !== 'layers' || !Array.isArray(rootfs['diff_ids'])) {
    throw bad(`config ${configDescriptor.digest}: rootfs must be {type: 'layers', diff_ids: [...]}`);
  }
  const diffIds = rootfs['diff_ids'] as unknown[];
  if (diffIds.length !== rawLayers.length) {
    throw bad(`config ${configDescriptor.digest}: ${diffIds.length} diff_ids for ${rawLayers.length} layers`);
  }
  const layers = rawLayers.map((l, i): LayerDescriptor => {
    const compression = layerCompression(l.mediaType);
    if (!compression) throw bad(`${what} layers[${i}]: unsupported layer mediaType '${l.mediaType}'`);
    const diffId = diffIds[i];
    if (typeof diffId !== 'string' || !isDigest(diffId)) throw bad(`config ${configDescriptor.digest}: diff_ids[${i}] is not a sha256 digest`);
    return { ...l, compression, diffId };
  });
  for (const [i, l] of layers.entries()) {
    let st;
    try {
      st = await stat(blobPath(layoutDir, l.digest));
    } catch {
      throw bad(`layer ${i} blob ${l.digest} is missing from the layout`);
    }
    if (!st.isFile() || st.size !== l.size) throw bad(`layer ${i} blob ${l.digest} is ${st.size} bytes, its descriptor says ${l.size}`);
  }

  return {
    refName: top.annotations?.[ANNOTATION_REF_NAME],
    fullName: top.annotations?.[ANNOTATION_CONTAINERD_NAME],
    manifest: manifestDesc,
    manifestBytes,
    configDescriptor,
    configBytes,
    config: imageConfigFrom(configDoc),
    layers,
    sizeBytes: layers.reduce((n, l) => n + l.size, 0),
  };
}

/** Reads one image by its manifest descriptor (e.g. from the store's own blob tree). */
export const readImageByManifest = (layoutDir: BlobSource, manifest: Descriptor): Promise<LayoutImage> => readImage(layoutDir, manifest, manifest);

/**
 * Reads every image of the layout. Entries of index.json for other platforms are
 * skipped; nested indexes resolve to their linux/amd64 manifest. Throws
 * HangarError('invalid_argument') on anything malformed.
 */
export async function readOciLayout(layoutDir: string): Promise<LayoutImage[]> {
  const layoutFile = join(layoutDir, 'oci-layout');
  try {
    const fh = await open(layoutFile, 'r');
    let bytes: Buffer;
    try {
      const st = await fh.stat();
      if (st.size > MAX_DOCUMENT_BYTES) throw bad('oci-layout file is too large');
      bytes = await fh.readFile();
    } finally {
      await fh.close();
    }
    const doc = parsed(() => parseJsonObject(bytes, 'oci-layout'));
    const v = doc['imageLayoutVersion'];
    if (typeof v !== 'string' || !v.startsWith('1.')) throw bad(`unsupported imageLayoutVersion '${String(v)}'`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }

  let indexBytes: Buffer;
  try {
    const fh = await open(join(layoutDir, 'index.json'), 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw bad('index.json is not a regular file');
      if (st.size > MAX_DOCUMENT_BYTES) throw bad('index.json is too large');
      indexBytes = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw bad('not an OCI image layout: index.json is missing');
    throw e;
  }
  const top = parsed(() => parseIndex(indexBytes, 'index.json'));
  const wanted = entriesFitting(top, LINUX_AMD64);
  if (wanted.length === 0) {
    if (top.some((d) => MANIFEST_TYPES.has(d.mediaType) || INDEX_TYPES.has(d.mediaType))) throw bad(`the layout has no linux/amd64 image (has: ${platformsOf(top)})`);
    throw bad('index.json lists no image manifests');
  }
  const images: LayoutImage[] = [];
  for (const d of wanted) {
    const manifestDesc = INDEX_TYPES.has(d.mediaType) ? await pickFromIndex(layoutDir, d, 1) : d;
    images.push(await readImage(layoutDir, d, manifestDesc));
  }
  return images;
}
