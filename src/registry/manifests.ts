/**
 * Manifests, indexes and tags of each repository. A manifest is stored only
 * once everything it references is (config, layers, index children; not its
 * `subject`), in one transaction with its references and its tag.
 */
import { renameSync, unlinkSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tempName, writeNewFile } from '../lib/fs-util.js';
import { isForeign } from '../oci/descriptor.js';
import { OciFormatError } from '../oci/errors.js';
import { parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { looksLikeDigest } from '../oci/names.js';
import { sha256 } from '../lib/digest.js';
import type { RegistryContext } from './context.js';
import type { ManifestRow } from './db.js';
import { regError } from './errors.js';
import { checkDigest, checkRepoName, checkTag } from './names.js';
import type { Descriptor, StoredManifest, TagInfo } from './ports.js';

/** parseManifest with its errors as the distribution API names them. */
function parseStored(body: Buffer, mediaType: string): ParsedManifest {
  try {
    return parseManifest(body, mediaType);
  } catch (e) {
    if (!(e instanceof OciFormatError)) throw e;
    if (e.reason === 'unsupported') throw regError('UNSUPPORTED', e.message, e.detail === undefined ? {} : { detail: e.detail });
    throw regError('MANIFEST_INVALID', `manifest invalid: ${e.message}`, e.detail === undefined ? {} : { detail: e.detail });
  }
}

export class ManifestStore {
  constructor(private readonly c: RegistryContext) {}

  async putManifest(repo: string, reference: string, body: Buffer, mediaType: string, opts: { pushedBy?: string } = {}): Promise<{ digest: string; subject?: string }> {
    checkRepoName(repo, true);
    const byDigest = looksLikeDigest(reference);
    if (byDigest) checkDigest(reference);
    else checkTag(reference);
    if (body.length > this.c.limits.maxManifestBytes) {
      throw regError('SIZE_INVALID', `manifest of ${body.length} bytes is larger than the ${this.c.limits.maxManifestBytes} bytes allowed`, { status: 413, detail: { limit: this.c.limits.maxManifestBytes } });
    }
    const m = parseStored(body, mediaType);
    const digest = sha256(body);
    if (byDigest && reference !== digest) throw regError('DIGEST_INVALID', `manifest hashes to ${digest}, not ${reference}`, { detail: { expected: reference, got: digest } });
    const tag = byDigest ? undefined : reference;
    const staged = join(this.c.tmpDir, tempName('manifest'));
    await writeNewFile(staged, body);
    const s = this.c.d.s;
    const now = this.c.now();
    try {
      this.c.tx(() => {
        for (const b of m.blobs) {
          const row = s.blob.get(b.digest);
          if (!row) {
            if (isForeign(b)) continue;
            throw regError('MANIFEST_BLOB_UNKNOWN', `blob ${b.digest} (${b.mediaType}) is not stored`, { detail: { digest: b.digest } });
          }
          if (row.size !== b.size) throw regError('MANIFEST_INVALID', `manifest invalid: descriptor of ${b.digest} says ${b.size} bytes, the blob has ${row.size}`, { detail: { digest: b.digest } });
        }
        for (const c of m.manifests) {
          const row = s.manifest.get(repo, c.digest);
          if (!row) throw regError('MANIFEST_BLOB_UNKNOWN', `manifest ${c.digest} is not stored in ${repo}`, { detail: { digest: c.digest } });
          if (row.size !== c.size) throw regError('MANIFEST_INVALID', `manifest invalid: descriptor of ${c.digest} says ${c.size} bytes, the manifest has ${row.size}`, { detail: { digest: c.digest } });
        }
        if (s.blob.get(digest)) unlinkSync(staged);
        else {
          renameSync(staged, this.c.blobPath(digest));
          s.insertBlob.run(digest, body.length, now);
        }
        s.markBlobReferenced.run(digest);
        s.insertLink.run(repo, digest);
        s.insertManifest.run(repo, digest, m.mediaType, body.length, m.subject?.digest ?? null, m.artifactType ?? null, m.annotations ? JSON.stringify(m.annotations) : null, now, tag ? 1 : 0);
        if (tag) s.markManifestReferenced.run(repo, digest);
        for (const b of m.blobs) {
          s.insertRef.run(digest, b.digest);
          if (s.blob.get(b.digest)) {
            s.markBlobReferenced.run(b.digest);
            s.insertLink.run(repo, b.digest);
          }
        }
        for (const c of m.manifests) {
          s.insertRef.run(digest, c.digest);
          s.markManifestReferenced.run(repo, c.digest);
        }
        if (tag) {
          const prev = s.tag.get(repo, tag);
          if (!prev || prev.digest !== digest) s.upsertTag.run(repo, tag, digest, new Date(now).toISOString(), opts.pushedBy ?? null);
        }
      });
    } finally {
      await rm(staged, { force: true });
    }
    this.c.emit({ repo, digest, kind: 'put', ...(tag ? { tag } : {}) });
    return { digest, ...(m.subject ? { subject: m.subject.digest } : {}) };
  }

  /** Digest, media type and size of a manifest by tag or digest, without reading it. */
  manifestInfo(repo: string, reference: string): { digest: string; mediaType: string; size: number; subject?: string } | undefined {
    const s = this.c.d.s;
    let digest = reference;
    if (!looksLikeDigest(reference)) {
      const t = s.tag.get(repo, reference);
      if (!t) return undefined;
      digest = t.digest;
    }
    const row = s.manifest.get(repo, digest);
    if (!row) return undefined;
    return { digest, mediaType: row.media_type, size: row.size, ...(row.subject ? { subject: row.subject } : {}) };
  }

  async getManifest(repo: string, reference: string): Promise<StoredManifest | undefined> {
    const info = this.manifestInfo(repo, reference);
    if (!info) return undefined;
    try {
      return { digest: info.digest, mediaType: info.mediaType, body: await readFile(this.c.blobPath(info.digest)) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // removed by gc meanwhile
      throw e;
    }
  }

  /** Repositories that hold `digest` as a manifest. */
  reposOfManifest(digest: string): string[] {
    return this.c.d.db.prepare<[string], { repo: string }>('SELECT repo FROM manifests WHERE digest = ? ORDER BY repo').all(digest).map((r) => r.repo);
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    const s = this.c.d.s;
    this.c.tx(() => {
      if (!s.manifest.get(repo, digest)) throw regError('MANIFEST_UNKNOWN', `manifest ${digest} is not in repository ${repo}`, { detail: { digest } });
      s.deleteTagsAt.run(repo, digest);
      s.deleteManifest.run(repo, digest);
    });
    this.c.emit({ repo, digest, kind: 'delete' });
  }

  async deleteTag(repo: string, tag: string): Promise<void> {
    const s = this.c.d.s;
    const digest = this.c.tx(() => {
      const t = s.tag.get(repo, tag);
      if (!t) throw regError('MANIFEST_UNKNOWN', `tag ${tag} is not in repository ${repo}`, { detail: { tag } });
      s.deleteTag.run(repo, tag);
      return t.digest;
    });
    this.c.emit({ repo, digest, tag, kind: 'delete' });
  }

  /**
   * What deleting `reference` (a tag or a digest) in `repo` would take away:
   * the digest, an index's entries, and whether the image leaves the node
   * (by digest, or no other tag in any repository keeps it).
   */
  removalOf(repo: string, reference: string): { digest: string; children: string[]; lastTag: boolean } | undefined {
    const s = this.c.d.s;
    const byDigest = looksLikeDigest(reference);
    const digest = byDigest ? (s.manifest.get(repo, reference) ? reference : undefined) : s.tag.get(repo, reference)?.digest;
    if (digest === undefined) return undefined;
    const children = s.refsOf.all(digest).map((r) => r.child).filter((c) => s.manifest.get(repo, c) !== undefined);
    return { digest, children, lastTag: byDigest || s.tagsOfDigest.all(digest).length <= 1 };
  }

  async repositories(): Promise<string[]> {
    return this.c.d.s.repositories.all().map((r) => r.repo);
  }

  hasRepository(repo: string): boolean {
    return this.c.d.s.repoExists.get(repo) !== undefined;
  }

  async tags(repo: string): Promise<TagInfo[]> {
    return this.c.d.s.tagsOf.all(repo).map((t) => ({ repo: t.repo, tag: t.tag, digest: t.digest, updatedAt: t.updated_at, ...(t.pushed_by ? { pushedBy: t.pushed_by } : {}) }));
  }

  async referrers(repo: string, digest: string): Promise<Descriptor[]> {
    return this.c.d.s.referrers.all(repo, digest).map((r: ManifestRow) => {
      const d: Descriptor = { mediaType: r.media_type, digest: r.digest, size: r.size };
      if (r.artifact_type) d.artifactType = r.artifact_type;
      if (r.annotations) d.annotations = JSON.parse(r.annotations) as Record<string, string>;
      return d;
    });
  }
}
