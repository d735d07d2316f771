/**
 * What the parts of the registry store (blobs, manifests, uploads, gc) share:
 * the paths, the limits, the open database and its write transaction, and
 * the change feed. DiskRegistry is the one implementation.
 */
import type { Logger } from '../lib/log.js';
import type { RegistryDb } from './db.js';
import type { RegistryLimits } from './limits.js';
import type { ManifestChange } from './ports.js';

export interface RegistryContext {
  readonly blobDir: string;
  readonly tmpDir: string;
  readonly uploadDir: string;
  readonly limits: RegistryLimits;
  readonly log: Logger;
  readonly now: () => number;
  /** The open database (throws before init() and after close()). */
  readonly d: RegistryDb;
  /** Runs fn in an immediate (write-locked) transaction: also excludes other processes on the same store. */
  tx<T>(fn: () => T): T;
  blobPath(digest: string): string;
  emit(change: ManifestChange): void;
}
