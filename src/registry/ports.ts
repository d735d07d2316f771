/**
 * The node's own registry storage, as the rest of the node sees it. One
 * content store holds every blob, manifest and index; the OCI Distribution
 * HTTP API (/v2/), image import, central-registry pulls and the image store's
 * rootfs cache all go through this interface, so a pushed image is runnable
 * without a copy and garbage collection has one owner.
 *
 * Contract:
 * - Nothing is visible before it is verified: a blob only after its digest
 *   and size matched; a manifest only after it parsed and everything it
 *   references (config, layers, index children; not `subject`) is present.
 * - Writing the same content twice stores it once.
 * - `gc` never removes a blob reachable from a tag, from a manifest that is
 *   still referenced, or from a digest `pinned` accepts.
 */
import type { Readable } from 'node:stream';

export type { Descriptor } from '../oci/descriptor.js';
import type { Descriptor } from '../oci/descriptor.js';

export interface StoredManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface TagInfo {
  repo: string;
  tag: string;
  digest: string;
  /** When the tag was last pointed at this digest. */
  updatedAt: string;
  /** Who pushed it (user name), when known. */
  pushedBy?: string;
}

export interface ManifestChange {
  repo: string;
  digest: string;
  /** Set when a tag was created or moved. */
  tag?: string;
  kind: 'put' | 'delete';
}

export interface LocalRegistry {
  hasBlob(digest: string): Promise<boolean>;
  /** Size of a stored blob, or undefined. */
  blobSize(digest: string): Promise<number | undefined>;
  /** Host path of a stored blob (read-only use: unpacking, serving). */
  blobPath(digest: string): string;
  openBlob(digest: string, range?: { start: number; end: number }): Readable;
  /** Streams content in, verifies it against `expected`, then makes it visible. */
  putBlob(content: Readable | AsyncIterable<Buffer>, expected: { digest: string; size?: number }): Promise<{ digest: string; size: number }>;
  /**
   * Verifies a file and moves it into the store (a file on another filesystem
   * is copied); the caller's file is gone afterwards. For imports that staged
   * blobs beside the store.
   */
  putBlobFile(path: string, expected: { digest: string; size?: number }): Promise<{ digest: string; size: number }>;

  /**
   * Stores a manifest or index under `repo` and, when `reference` is a tag,
   * points the tag at it. Rejects (HangarError invalid_argument, or
   * not_found for a missing referenced blob) with nothing stored.
   */
  putManifest(repo: string, reference: string, body: Buffer, mediaType: string, opts?: { pushedBy?: string }): Promise<{ digest: string; subject?: string }>;
  /** By tag or digest. */
  getManifest(repo: string, reference: string): Promise<StoredManifest | undefined>;
  deleteManifest(repo: string, digest: string): Promise<void>;
  deleteTag(repo: string, tag: string): Promise<void>;

  repositories(): Promise<string[]>;
  tags(repo: string): Promise<TagInfo[]>;
  /** Manifests in `repo` whose `subject` is `digest` (the referrers API). */
  referrers(repo: string, digest: string): Promise<Descriptor[]>;

  /** Notified after every manifest put/delete (the image store drops caches, the API shows new images). */
  onChange(listener: (change: ManifestChange) => void): void;

  /**
   * Removes what nothing references; returns what it removed (`removed`:
   * blob digests, manifest bodies included; `removedManifests`: manifests no
   * repository holds any more). Content pushed less than `graceMs` ago that
   * nothing references yet (a push in progress) is kept; the default grace is
   * the store's (1 h), 0 collects it too.
   */
  gc(pinned: (digest: string) => boolean, opts?: { graceMs?: number }): Promise<{ removed: string[]; freedBytes: number; removedManifests: string[] }>;
}

/**
 * Asked before /v2/ takes a manifest or a tag away; on a node the image
 * service answers (it owns the in-use and pin rules) and runs the delete
 * with nothing becoming used meanwhile.
 */
export interface RemovalGuard {
  guardRemoval<T>(target: { ref: string; digest: string; children?: readonly string[]; lastTag: boolean }, remove: () => Promise<T>): Promise<T>;
}


/** The user a /v2/ request's credentials name. */
export interface RegistryUser {
  uuid: string;
  name: string;
  admin: boolean;
}

/**
 * Who may read and write which repository over /v2/; on a node the image
 * service answers (the same rule as the images API and instance creation).
 */
export interface RegistryAccess {
  canRead(user: RegistryUser, repo: string): Promise<boolean>;
  canWrite(user: RegistryUser, repo: string): Promise<boolean>;
  /** Throws (permission_denied) when `user` may not write `repo`; records the owner of a repository nobody owned. */
  claim(user: RegistryUser, repo: string): Promise<void>;
  /** True when `digest` may be mounted into or referenced from `into`. */
  canUseBlob(user: RegistryUser, digest: string, into: string): Promise<boolean>;
}

/** Everyone may do everything: a registry served without a node (tests of the wire protocol). */
export const OPEN_ACCESS: RegistryAccess = {
  canRead: async () => true,
  canWrite: async () => true,
  claim: async () => undefined,
  canUseBlob: async () => true,
};
