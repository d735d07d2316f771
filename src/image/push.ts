/**
 * Pushes an image from an OCI layout directory or an oci-archive tarball to
 * any registry (the node's `/v2/`, central, …), faithfully: whatever
 * index.json names is pushed as it is — any platform (kraftkit's
 * `qemu/x86_64`, `kraftcloud/x86_64`), any layer media type (Unikraft ROMs),
 * nested indexes — so digests survive the trip.
 *
 * What is pushed: the index.json entry whose ref name matches the tag, else
 * the only entry; a layout whose entries are one image per platform is pushed
 * as one index (index.json itself). Blobs go first (skipped when the registry
 * has them), child manifests by digest, the tag last.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HangarError } from '../lib/errors.js';
import type { Progress, PushBlobResult, RegistryClient } from '../distribution/client.js';
import { sha256 } from '../lib/digest.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, INDEX_TYPES, MANIFEST_TYPES, MT } from '../oci/media-types.js';
import { extractOciArchive } from './oci-archive.js';
import { blobPath } from './oci-layout.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseIndex } from '../oci/manifest.js';

export interface PushOptions {
  onProgress?: Progress;
  /** PATCH chunk size for large blobs (default: one monolithic PUT per blob). */
  chunkSize?: number;
  /** Blobs uploaded at the same time (default 3). */
  concurrency?: number;
  /** Try a cross-repository mount from this repository for each blob. */
  mountFrom?: string;
}

export interface PushResult {
  repo: string;
  tag: string;
  /** Digest of what the tag points at. */
  digest: string;
  mediaType: string;
  bytesPushed: number;
  blobs: Record<PushBlobResult, number>;
}

const bad = (msg: string): HangarError => new HangarError('invalid_argument', msg, { field: 'image' });

interface Doc {
  digest: string;
  mediaType: string;
  body: Buffer;
}

async function readDoc(layout: string, e: { digest: string; size: number; mediaType: string }): Promise<Doc> {
  if (e.size > 4 * 1024 * 1024) throw bad(`manifest ${e.digest} is ${e.size} bytes; manifests are at most 4 MiB`);
  let body: Buffer;
  try {
    body = await readFile(blobPath(layout, e.digest));
  } catch {
    throw bad(`blob ${e.digest} is missing from the layout`);
  }
  if (body.length !== e.size || sha256(body) !== e.digest) throw bad(`blob ${e.digest} does not match its descriptor (size or digest)`);
  return { digest: e.digest, mediaType: e.mediaType, body };
}

/** The entry of index.json to push under `tag` (or index.json itself, for one image per platform). */
function chooseTop(entries: Descriptor[], indexJson: Buffer, tag: string): { entry?: Descriptor; wholeIndex?: Doc } {
  const images = entries.filter((e) => MANIFEST_TYPES.has(e.mediaType) || INDEX_TYPES.has(e.mediaType));
  if (images.length === 0) throw bad('index.json lists no manifests');
  const named = images.filter((e) => {
    const a = e.annotations ?? {};
    const full = a[ANNOTATION_CONTAINERD_NAME] ?? a[ANNOTATION_REF_NAME] ?? '';
    return a[ANNOTATION_REF_NAME] === tag || full.endsWith(`:${tag}`);
  });
  const distinct = (l: Descriptor[]): Set<string> => new Set(l.map((e) => e.digest));
  if (distinct(named).size === 1) return { entry: named[0]! };
  if (distinct(images).size === 1) return { entry: images[0]! };
  const platforms = images.map((e) => (e.platform ? `${e.platform.os}/${e.platform.architecture}/${e.platform.variant ?? ''}` : undefined));
  if (platforms.every((p) => p !== undefined) && new Set(platforms).size === platforms.length) {
    return { wholeIndex: { digest: sha256(indexJson), mediaType: MT.ociIndex, body: indexJson } };
  }
  throw bad(`the layout holds ${images.length} images and none is named '${tag}' (org.opencontainers.image.ref.name)`);
}

/** Pushes the image at `path` (layout directory or oci-archive file) as `repo:tag`. */
export async function pushImage(client: RegistryClient, path: string, repo: string, tag: string, o: PushOptions = {}): Promise<PushResult> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw bad(`'${path}' does not exist`);
  }
  if (st.isDirectory()) return pushLayout(client, path, repo, tag, o);
  const tmp = await mkdtemp(join(tmpdir(), 'hangar-push-'));
  try {
    await extractOciArchive(path, tmp);
    return await pushLayout(client, tmp, repo, tag, o);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function pushLayout(client: RegistryClient, layout: string, repo: string, tag: string, o: PushOptions = {}): Promise<PushResult> {
  let indexJson: Buffer;
  try {
    indexJson = await readFile(join(layout, 'index.json'));
  } catch {
    throw bad(`'${layout}' is not an OCI layout (no index.json)`);
  }
  const top = chooseTop(parseIndex(indexJson), indexJson, tag);
  const docs: Doc[] = [];
  const blobs = new Map<string, number>();
  const visit = async (d: Doc, depth: number): Promise<void> => {
    if (depth > 4) throw bad('indexes nested more than 4 deep');
    if (INDEX_TYPES.has(d.mediaType)) {
      for (const e of parseIndex(d.body)) await visit(await readDoc(layout, e), depth + 1);
    } else if (MANIFEST_TYPES.has(d.mediaType)) {
      const m = JSON.parse(d.body.toString('utf8')) as { config?: { digest: string; size: number }; layers?: Array<{ digest: string; size: number; urls?: string[] }> };
      if (!m.config) throw bad(`manifest ${d.digest} has no config`);
      for (const b of [m.config, ...(m.layers ?? []).filter((l) => !l.urls?.length)]) {
        if (typeof b.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(b.digest) || typeof b.size !== 'number') throw bad(`manifest ${d.digest} has a malformed descriptor`);
        blobs.set(b.digest, b.size);
      }
    } else {
      throw bad(`unsupported manifest media type '${d.mediaType.slice(0, 100)}'`);
    }
    if (!docs.some((x) => x.digest === d.digest)) docs.push(d);
  };
  const topDoc = top.wholeIndex ?? (await readDoc(layout, top.entry!));
  await visit(topDoc, 0);

  for (const [digest, size] of blobs) {
    const s = await stat(blobPath(layout, digest)).catch(() => undefined);
    if (!s || !s.isFile()) throw bad(`blob ${digest} is missing from the layout`);
    if (s.size !== size) throw bad(`blob ${digest} is ${s.size} bytes, its descriptor says ${size}`);
  }
  const total = [...blobs.values()].reduce((a, b) => a + b, 0);
  const doneBy = new Map<string, number>();
  let done = 0;
  const counts: Record<PushBlobResult, number> = { exists: 0, mounted: 0, uploaded: 0 };
  let pushed = 0;
  o.onProgress?.(0, total);
  const queue = [...blobs.entries()];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [digest, size] = next;
      const r = await client.pushBlob(repo, { digest, size }, {
        open: (offset) => createReadStream(blobPath(layout, digest), { start: offset, highWaterMark: 1024 * 1024 }),
        chunkSize: o.chunkSize,
        mountFrom: o.mountFrom,
        onProgress: (n) => {
          done += n - (doneBy.get(digest) ?? 0);
          doneBy.set(digest, n);
          o.onProgress?.(done, total);
        },
      });
      counts[r]++;
      if (r === 'uploaded') pushed += size;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? 3, queue.length)) }, worker));

  for (const d of docs) {
    if (d.digest === topDoc.digest) continue;
    await client.putManifest(repo, d.digest, d.body, d.mediaType);
  }
  const digest = await client.putManifest(repo, tag, topDoc.body, topDoc.mediaType);
  return { repo, tag, digest, mediaType: topDoc.mediaType, bytesPushed: pushed, blobs: counts };
}
