/**
 * What the image service needs from the rest of the node. Each is async so a
 * store that lives elsewhere (another process, PostgreSQL) fits unchanged.
 */
import type { PinnedImage } from '../ports/images.js';

/** One use of an image: a digest (manifest or index), the reference it was named by, or both. */
export interface ImageUse {
  digest?: string;
  /** The reference as the holder names it (`name:tag`, `host/name@sha256:…`); its restarts resolve it again. */
  ref?: string;
  /** Who holds it, for messages (`instance web-1`). */
  by: string;
  /** uuid of the user the holder belongs to, when it has one. */
  owner?: string;
}

/**
 * Something that keeps images in use: instances now; ROMs, volumes and
 * templates register their own source the same way.
 */
export interface ImageReferenceSource {
  readonly name: string;
  references(): Promise<ImageUse[]>;
  /**
   * The uses by `owner` that may name repository `repo` (a superset is fine: the access rule matches exactly),
   * without reading every use: read access asks on every /v2/ request and listing. Without it, `references()`
   * is filtered.
   */
  referencesOf?(owner: string, repo: string): Promise<ImageUse[]>;
}

/** A pin with what makes it a GC root (an index's children count too). */
export interface PinRecord extends PinnedImage {
  children?: string[];
}

/** Where pins are kept (the registry's database on a node). */
export interface PinStore {
  all(): Promise<PinRecord[]>;
  put(pin: PinRecord): Promise<void>;
  remove(uuid: string): Promise<void>;
}

/** What a removal takes away. */
export interface RemovalTarget {
  /** As the caller named it, for messages. */
  ref: string;
  /** The manifest or index digest, and an index's entries. */
  digest: string;
  children?: readonly string[];
  /** True when the image leaves the node (its last tag goes, or it is removed by digest). */
  lastTag: boolean;
  /** A tag going away (`repo`, `tag`) while the image may stay: holders that named it are refused too. */
  tag?: { repo: string; tag: string };
}

/** Who asks: a user of the node (the admin may do everything). */
export interface Principal {
  uuid: string;
  admin: boolean;
}

/** A repository's recorded owner. */
export interface RepositoryOwner {
  owner: string;
  /** Readable by every user. */
  public: boolean;
}

/** What the access rule reads about repositories (the registry's database on a node). */
export interface RepositoryDirectory {
  owner(repo: string): Promise<RepositoryOwner | undefined>;
  /** Records `rec` unless an owner is recorded; returns the owner in force. */
  claim(repo: string, rec: RepositoryOwner): Promise<RepositoryOwner>;
  /** True when the repository holds a manifest. */
  exists(repo: string): Promise<boolean>;
  /** Repositories a blob is linked in. */
  blobRepos(digest: string): Promise<string[]>;
}
