/**
 * Copies one image from a remote registry into the node's LocalRegistry.
 *
 * Order makes a failed pull harmless: blobs first (each verified by
 * LocalRegistry.putBlob before it is visible), then child manifests by
 * digest, and the tag last (putManifest of the top manifest). An interrupted
 * pull leaves at most unreferenced blobs, which garbage collection removes;
 * never a tag.
 *
 * Indexes: when every entry is for this machine's architecture (kraftkit's
 * qemu/x86_64 + fc/x86_64, a single-platform index), the whole index is
 * stored, so its digest stays valid locally. Otherwise only the manifest
 * this node would run (pickManifest) is stored under the tag.
 */
import type { Readable } from 'node:stream';
import { HangarError } from '../lib/errors.js';
import type { Progress, RegistryClient } from '../distribution/client.js';
import type { LocalRegistry } from '../registry/ports.js';
import { INDEX_TYPES, MANIFEST_TYPES } from '../oci/media-types.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseIndex } from '../oci/manifest.js';
import { NODE_PLATFORMS, entriesFitting, pickManifest } from '../oci/platform.js';

export interface PullTarget {
  /** Repository on the remote registry (`library/hello`). */
  remoteRepo: string;
  /** Tag or digest on the remote registry. */
  reference: string;
  /** Repository in the LocalRegistry. */
  localRepo: string;
  /** Tag to set locally; undefined for a pull by digest. */
  localTag: string | undefined;
}

export interface PullOptions {
  onProgress?: Progress;
  /** Blobs fetched at the same time (default 3). */
  concurrency?: number;
  /** Refuse blobs larger than this (bytes). */
  maxBlobBytes?: number;
  pushedBy?: string;
}

export interface PullResult {
  repo: string;
  tag: string | undefined;
  /** Digest of what the tag points at locally (the index, or the chosen manifest). */
  digest: string;
  mediaType: string;
  /** Digest of the top manifest on the remote (may be an index that was not kept). */
  remoteDigest: string;
  bytesFetched: number;
  blobsFetched: number;
  blobsPresent: number;
}

const DOCKER_SCHEMA1 = new Set(['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws']);
const MAX_INDEX_DEPTH = 2;

const imageError = (msg: string): HangarError => new HangarError('invalid_argument', msg, { field: 'image' });

interface Blob {
  digest: string;
  size: number;
}

function manifestBlobs(body: Buffer, what: string): Blob[] {
  let doc: { config?: Blob; layers?: Blob[] };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch {
    throw imageError(`${what} is not valid JSON`);
  }
  const list = [doc.config, ...(Array.isArray(doc.layers) ? doc.layers : [])];
  return list.map((b, i) => {
    if (!b || typeof b.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(b.digest) || typeof b.size !== 'number' || !Number.isSafeInteger(b.size) || b.size < 0) {
      throw imageError(`${what}: ${i === 0 ? 'config' : `layers[${i - 1}]`} is not a valid sha256 descriptor`);
    }
    return { digest: b.digest, size: b.size };
  });
}

/** Runs `fn` over items, at most `n` at a time; the first failure rejects (the others still settle). */
async function limited<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

export async function pullImage(local: LocalRegistry, client: RegistryClient, t: PullTarget, o: PullOptions = {}): Promise<PullResult> {
  const top = await client.getManifest(t.remoteRepo, t.reference);
  if (DOCKER_SCHEMA1.has(top.mediaType)) throw imageError(`${t.remoteRepo}:${t.reference} is a Docker schema 1 manifest, which hangar does not pull (re-push it with a current client)`);

  // Work out every manifest to store, children before parents.
  const manifests: Array<{ digest: string; mediaType: string; body: Buffer }> = [];
  let tagged = top;
  const visit = async (m: { digest: string; mediaType: string; body: Buffer }, depth: number): Promise<void> => {
    if (MANIFEST_TYPES.has(m.mediaType)) {
      manifests.push(m);
      return;
    }
    if (!INDEX_TYPES.has(m.mediaType)) throw imageError(`${t.remoteRepo}@${m.digest}: unsupported manifest media type '${m.mediaType.slice(0, 100)}'`);
    if (depth > MAX_INDEX_DEPTH) throw imageError(`indexes nested more than ${MAX_INDEX_DEPTH} deep`);
    const entries = parseIndex(m.body);
    const mine = entriesFitting(entries, NODE_PLATFORMS);
    if (mine.length > 0 && mine.length === entries.length) {
      for (const e of mine) await visit(await fetchChild(client, t.remoteRepo, e), depth + 1);
      manifests.push(m);
      return;
    }
    const pick = pickManifest(entries, NODE_PLATFORMS);
    if (!pick) {
      const have = entries.map((e) => (e.platform ? `${e.platform.os}/${e.platform.architecture}` : 'unknown')).join(', ') || 'none';
      throw imageError(`${t.remoteRepo}:${t.reference} has no image for this node's architecture (amd64/x86_64); it has: ${have}`);
    }
    const child = await fetchChild(client, t.remoteRepo, pick);
    if (depth === 0) tagged = child;
    await visit(child, depth + 1);
  };
  await visit(top, 0);

  // Blobs of every manifest, each once, skipping what the node has.
  const seen = new Set<string>();
  const wanted: Blob[] = [];
  for (const m of manifests) {
    if (!MANIFEST_TYPES.has(m.mediaType)) continue;
    for (const b of manifestBlobs(m.body, `manifest ${m.digest}`)) {
      if (seen.has(b.digest)) continue;
      seen.add(b.digest);
      if (o.maxBlobBytes !== undefined && b.size > o.maxBlobBytes) throw imageError(`blob ${b.digest} is ${b.size} bytes, more than the ${o.maxBlobBytes} allowed`);
      if (!(await local.hasBlob(b.digest))) wanted.push(b);
    }
  }
  const total = wanted.reduce((n, b) => n + b.size, 0);
  const doneBy = new Map<string, number>();
  let done = 0;
  o.onProgress?.(0, total);
  await limited(wanted, o.concurrency ?? 3, async (b) => {
    const stream: Readable = client.openBlob(t.remoteRepo, b, (n) => {
      done += n - (doneBy.get(b.digest) ?? 0);
      doneBy.set(b.digest, n);
      o.onProgress?.(done, total);
    });
    try {
      await local.putBlob(stream, { digest: b.digest, size: b.size });
    } finally {
      stream.destroy();
    }
  });

  for (const m of manifests) {
    const isTop = m.digest === tagged.digest;
    const ref = isTop && t.localTag !== undefined ? t.localTag : m.digest;
    await local.putManifest(t.localRepo, ref, m.body, m.mediaType, o.pushedBy !== undefined ? { pushedBy: o.pushedBy } : undefined);
    if (isTop) break;
  }
  return {
    repo: t.localRepo,
    tag: t.localTag,
    digest: tagged.digest,
    mediaType: tagged.mediaType,
    remoteDigest: top.digest,
    bytesFetched: total,
    blobsFetched: wanted.length,
    blobsPresent: seen.size - wanted.length,
  };
}

async function fetchChild(client: RegistryClient, repo: string, e: Descriptor): Promise<{ digest: string; mediaType: string; body: Buffer }> {
  const m = await client.getManifest(repo, e.digest);
  if (m.body.length !== e.size) throw imageError(`${repo}@${e.digest} is ${m.body.length} bytes, the index says ${e.size}`);
  return { ...m, mediaType: MANIFEST_TYPES.has(e.mediaType) || INDEX_TYPES.has(e.mediaType) ? e.mediaType : m.mediaType };
}
