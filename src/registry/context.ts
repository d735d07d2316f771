/**
 * What the parts of the registry store (blobs, manifests, uploads, gc) share:
 * the paths, the limits, the open database and its write transaction, and
 * the change feed. DiskRegistry is this plus the parts.
 */
import { join, resolve } from 'node:path';
import { digestHex } from '../lib/digest.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { openRegistryDb, type RegistryDb } from './db.js';
import { RegistryError } from './errors.js';
import { DEFAULT_LIMITS, type RegistryLimits } from './limits.js';
import type { ManifestChange } from './ports.js';

export interface RegistryOptions {
  root: string;
  limits?: Partial<RegistryLimits>;
  logger?: Logger;
  now?: () => number;
}

export class RegistryContext {
  readonly root: string;
  readonly blobDir: string;
  readonly tmpDir: string;
  readonly uploadDir: string;
  readonly limits: RegistryLimits;
  readonly log: Logger;
  readonly now: () => number;
  private readonly listeners: Array<(c: ManifestChange) => void> = [];
  private dbh: RegistryDb | undefined;

  constructor(opts: RegistryOptions) {
    this.root = resolve(opts.root);
    this.blobDir = join(this.root, 'blobs', 'sha256');
    this.tmpDir = join(this.root, 'tmp');
    this.uploadDir = join(this.root, 'uploads');
    this.limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    this.log = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
  }

  protected openDb(path: string): void {
    this.dbh = openRegistryDb(path);
  }

  protected closeDb(): void {
    this.dbh?.db.close();
    this.dbh = undefined;
  }

  /** The open database (throws before init() and after close()). */
  get d(): RegistryDb {
    if (!this.dbh) throw new RegistryError('UNSUPPORTED', 'registry used before init() or after close()', { status: 503, kind: 'unavailable' });
    return this.dbh;
  }

  /** Runs fn in an immediate (write-locked) transaction: also excludes other processes on the same store. */
  tx<T>(fn: () => T): T {
    return this.d.db.transaction(fn).immediate();
  }

  blobPath(digest: string): string {
    return join(this.blobDir, digestHex(digest));
  }

  /** Notified after every manifest put/delete (the image store drops caches, the API shows new images). */
  onChange(listener: (change: ManifestChange) => void): void {
    this.listeners.push(listener);
  }

  emit(change: ManifestChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (e) {
        this.log.warn({ err: String(e) }, 'registry change listener failed');
      }
    }
  }
}
