/**
 * DiskRegistry: the node's content store and OCI registry storage, under `root`:
 *
 *   blobs/sha256/<hex>   every blob, manifest and index body, by digest (also a valid OCI layout blob tree)
 *   registry.db          SQLite: blob rows, per-repository links, manifests, references, tags, upload sessions, pins
 *   uploads/<uuid>       data of upload sessions in progress
 *   tmp/                 staging (same filesystem, so a verified file is renamed into place)
 *
 * The work is done by one part per concern over the shared database
 * (blobs.ts, manifests.ts, uploads.ts, gc.ts, pins.ts) and the context they
 * share (context.ts); this class opens the store, recovers what a dead
 * process left, and is what the rest of the node holds.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isStaleTemp } from '../lib/fs-util.js';
import { BlobStore } from './blobs.js';
import { RegistryContext, type RegistryOptions } from './context.js';
import { Collector, type GcResult } from './gc.js';
import { ManifestStore } from './manifests.js';
import { RepositoryOwners } from './owners.js';
import { PinTable } from './pins.js';
import type { Descriptor, LocalRegistry, StoredManifest, TagInfo } from './ports.js';
import { UploadSessions, type UploadStatus } from './uploads.js';

// The composition root reads the limits from its environment where it opens the store.

type Range = { start: number; end: number };

export class DiskRegistry extends RegistryContext implements LocalRegistry {
  readonly blobs: BlobStore;
  readonly manifests: ManifestStore;
  readonly uploads: UploadSessions;
  /** Who owns each repository (the image service's access rule reads it). */
  readonly owners: RepositoryOwners;
  private readonly collector: Collector;
  private initDone: Promise<void> | undefined;

  constructor(opts: RegistryOptions) {
    super(opts);
    this.blobs = new BlobStore(this);
    this.manifests = new ManifestStore(this);
    this.uploads = new UploadSessions(this, this.blobs);
    this.owners = new RepositoryOwners(this);
    this.collector = new Collector(this);
  }

  /** Opens the database, removes what a dead process left (staging, orphan files, expired uploads). Idempotent. */
  init(): Promise<void> {
    this.initDone ??= this.doInit();
    return this.initDone;
  }

  private async doInit(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true, mode: 0o755 });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    await mkdir(this.uploadDir, { recursive: true, mode: 0o700 });
    const dbPath = join(this.root, 'registry.db');
    const firstOpen = !existsSync(dbPath);
    this.openDb(dbPath);
    for (const name of await readdir(this.tmpDir)) {
      if (isStaleTemp(name)) await rm(join(this.tmpDir, name), { recursive: true, force: true });
    }
    if (firstOpen) this.collector.adoptBlobFiles();
    await this.collector.sweepOrphans();
    await this.uploads.sweep();
  }

  close(): void {
    this.closeDb();
  }

  // The LocalRegistry port and what the /v2/ API needs, each answered by its part.
  hasBlob = (digest: string): Promise<boolean> => this.blobs.hasBlob(digest);
  blobSize = (digest: string): Promise<number | undefined> => this.blobs.blobSize(digest);
  blobSizeIn = (repo: string, digest: string): number | undefined => this.blobs.blobSizeIn(repo, digest);
  openBlob = (digest: string, range?: Range): Readable => this.blobs.openBlob(digest, range);
  putBlob = (content: Readable | AsyncIterable<Uint8Array>, expected: { digest: string; size?: number }, opts: { repo?: string } = {}): Promise<{ digest: string; size: number }> => this.blobs.putBlob(content, expected, opts);
  putBlobFile = (path: string, expected: { digest: string; size?: number }, opts: { repo?: string } = {}): Promise<{ digest: string; size: number }> => this.blobs.putBlobFile(path, expected, opts);
  mountBlob = (repo: string, digest: string, from?: string): boolean => this.blobs.mountBlob(repo, digest, from);
  unlinkBlob = (repo: string, digest: string): void => this.blobs.unlinkBlob(repo, digest);

  putManifest = (repo: string, reference: string, body: Buffer, mediaType: string, opts: { pushedBy?: string } = {}): Promise<{ digest: string; subject?: string }> => this.manifests.putManifest(repo, reference, body, mediaType, opts);
  manifestInfo = (repo: string, reference: string): { digest: string; mediaType: string; size: number; subject?: string } | undefined => this.manifests.manifestInfo(repo, reference);
  getManifest = (repo: string, reference: string): Promise<StoredManifest | undefined> => this.manifests.getManifest(repo, reference);
  reposOfManifest = (digest: string): string[] => this.manifests.reposOfManifest(digest);
  deleteManifest = (repo: string, digest: string): Promise<void> => this.manifests.deleteManifest(repo, digest);
  deleteTag = (repo: string, tag: string): Promise<void> => this.manifests.deleteTag(repo, tag);
  repositories = (): Promise<string[]> => this.manifests.repositories();
  hasRepository = (repo: string): boolean => this.manifests.hasRepository(repo);
  tags = (repo: string): Promise<TagInfo[]> => this.manifests.tags(repo);
  referrers = (repo: string, digest: string): Promise<Descriptor[]> => this.manifests.referrers(repo, digest);

  startUpload = (repo: string): UploadStatus => this.uploads.start(repo);
  uploadStatus = (repo: string, uuid: string): UploadStatus => this.uploads.status(repo, uuid);
  writeUpload = (repo: string, uuid: string, body: AsyncIterable<Uint8Array>, range?: Range): Promise<UploadStatus> => this.uploads.write(repo, uuid, body, range);
  finishUpload = (repo: string, uuid: string, digest: string, body?: AsyncIterable<Uint8Array>, range?: Range): Promise<{ digest: string; size: number }> => this.uploads.finish(repo, uuid, digest, body, range);
  cancelUpload = (repo: string, uuid: string): Promise<void> => this.uploads.cancel(repo, uuid);
  /** Removes sessions idle longer than uploadTtlMs, data files without a session, and sessions without data. */
  sweepUploads = (): Promise<number> => this.uploads.sweep();

  /** The pins, kept in this store's database (their shape is their owner's). */
  pinTable<T extends { uuid: string }>(): PinTable<T> {
    return new PinTable<T>(this);
  }

  gc = (pinned: (digest: string) => boolean, opts: { graceMs?: number } = {}): Promise<GcResult> => this.collector.gc(pinned, opts);
}
