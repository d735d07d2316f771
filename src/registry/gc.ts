/**
 * Consistency and garbage collection of the content store: rows and files
 * agree after a crash, and what nothing keeps goes. Rows are deleted and
 * files moved out in one transaction, so readers never see a row without
 * its file.
 */
import { mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex } from '../lib/digest.js';
import { tempName } from '../lib/fs-util.js';
import type { RegistryContext } from './context.js';
import type { ManifestRow } from './db.js';

export interface GcResult {
  /** Blob digests removed (manifest bodies included). */
  removed: string[];
  freedBytes: number;
  /** Manifest digests no repository holds any more. */
  removedManifests: string[];
}

const HEX_RE = /^[a-f0-9]{64}$/;

export class Collector {
  constructor(private readonly c: RegistryContext) {}

  /** First open of a store that predates the database: its blob files (verified when they were stored) get rows. */
  adoptBlobFiles(): void {
    const s = this.c.d.s;
    this.c.tx(() => {
      for (const name of readdirSync(this.c.blobDir)) {
        if (!HEX_RE.test(name)) continue;
        const st = statSync(join(this.c.blobDir, name));
        if (st.isFile()) s.insertBlob.run(`sha256:${name}`, st.size, this.c.now());
      }
    });
  }

  /** Files in blobs/ without a row (a crash between rename and commit) and rows without a file go. */
  async sweepOrphans(): Promise<void> {
    const s = this.c.d.s;
    const trash = join(this.c.tmpDir, tempName('trash'));
    mkdirSync(trash);
    this.c.tx(() => {
      const rows = new Set(s.allBlobs.all().map((r) => r.digest));
      const files = new Set<string>();
      for (const name of readdirSync(this.c.blobDir)) {
        const digest = `sha256:${name}`;
        if (HEX_RE.test(name) && rows.has(digest)) files.add(digest);
        else renameSync(join(this.c.blobDir, name), join(trash, name));
      }
      for (const d of rows) {
        if (files.has(d)) continue;
        this.c.log.error({ digest: d }, 'stored blob is missing from disk; forgetting it');
        s.deleteBlob.run(d);
        s.deleteLinksOf.run(d);
      }
    });
    await rm(trash, { recursive: true, force: true });
  }

  /**
   * Mark and sweep. Live: manifests a tag points at, manifests and blobs
   * `pinned` accepts, content pushed less than `graceMs` ago that nothing has
   * referenced yet, and everything those reference (index children, config,
   * layers) or that refers to them (referrers). Untagged manifests that
   * nothing keeps are deleted, then every blob no live manifest needs.
   */
  async gc(pinned: (digest: string) => boolean, opts: { graceMs?: number } = {}): Promise<GcResult> {
    const s = this.c.d.s;
    const cutoff = this.c.now() - (opts.graceMs ?? this.c.limits.graceMs);
    const trash = join(this.c.tmpDir, tempName('trash'));
    mkdirSync(trash);
    const result: GcResult = { removed: [], freedBytes: 0, removedManifests: [] };
    const deletedRows: Array<{ repo: string; digest: string }> = [];
    this.c.tx(() => {
      const manifests = s.allManifests.all();
      const key = (repo: string, digest: string): string => `${repo}@${digest}`;
      const byKey = new Map(manifests.map((m) => [key(m.repo, m.digest), m]));
      const liveManifests = new Set<string>();
      const liveBlobs = new Set<string>();
      const work: ManifestRow[] = [];
      const keep = (m: ManifestRow | undefined): void => {
        if (!m || liveManifests.has(key(m.repo, m.digest))) return;
        liveManifests.add(key(m.repo, m.digest));
        work.push(m);
      };
      for (const t of s.allTags.all()) keep(byKey.get(key(t.repo, t.digest)));
      for (const m of manifests) if (pinned(m.digest) || (m.referenced === 0 && m.created_ms >= cutoff)) keep(m);
      while (work.length > 0) {
        const m = work.pop()!;
        liveBlobs.add(m.digest);
        for (const { child } of s.refsOf.all(m.digest)) {
          liveBlobs.add(child);
          keep(byKey.get(key(m.repo, child)));
        }
        for (const r of s.referrers.all(m.repo, m.digest)) keep(r);
      }
      for (const m of manifests) {
        if (liveManifests.has(key(m.repo, m.digest))) continue;
        s.deleteTagsAt.run(m.repo, m.digest); // none point here, or it would be live; kept for safety
        s.deleteManifest.run(m.repo, m.digest);
        deletedRows.push({ repo: m.repo, digest: m.digest });
      }
      const stillManifest = new Set(s.allManifests.all().map((m) => m.digest));
      for (const { digest } of deletedRows) {
        if (stillManifest.has(digest) || result.removedManifests.includes(digest)) continue;
        result.removedManifests.push(digest);
        s.deleteRefsOf.run(digest);
      }
      for (const b of s.allBlobs.all()) {
        if (liveBlobs.has(b.digest) || stillManifest.has(b.digest) || pinned(b.digest) || (b.referenced === 0 && b.created_ms >= cutoff)) continue;
        s.deleteBlob.run(b.digest);
        s.deleteLinksOf.run(b.digest);
        try {
          renameSync(this.c.blobPath(b.digest), join(trash, digestHex(b.digest)));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
        result.removed.push(b.digest);
        result.freedBytes += b.size;
      }
    });
    await rm(trash, { recursive: true, force: true });
    for (const r of deletedRows) this.c.emit({ ...r, kind: 'delete' });
    if (result.removed.length > 0) this.c.log.info({ blobs: result.removed.length, manifests: result.removedManifests.length, freedBytes: result.freedBytes }, 'registry gc');
    return result;
  }
}
