/**
 * The image port: turns a reference into a read-only rootfs that is unpacked
 * once per image digest and shared by every instance of that image.
 */

export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  /** `KEY=VALUE` strings from the image config. */
  env: string[];
  workingDir: string;
  /** OCI `user` string ("", "uid", "uid:gid"). */
  user: string;
}

export interface ResolvedImage {
  /** Canonical reference, e.g. `hello:latest`. */
  ref: string;
  /** Manifest digest (`sha256:…`). */
  digest: string;
  /** Absolute path to the shared read-only rootfs directory. */
  rootfs: string;
  config: ImageConfig;
  sizeBytes: number;
  /**
   * Ends the resolve's hold on the image now. Call it once the instance record
   * that names the image is stored (or the create failed); without the call
   * the hold expires by itself a while after the resolve.
   */
  settle?: () => void;
}

export interface ImageRecord {
  ref: string;
  digest: string;
  createdAt: Date;
  sizeBytes: number;
  config: ImageConfig;
  /** True for ROM/initrd-only images that have no runnable rootfs. */
  initrdOrRom: boolean;
}

export interface ImageStore {
  /**
   * Resolves `name[:tag]` or `name@sha256:…`; rejects with not_found if the node does not
   * hold it. A store that can pull (the node's) honours `source` (pull policy, credentials).
   */
  resolve(ref: string, source?: ImageSource): Promise<ResolvedImage>;
  list(): Promise<ImageRecord[]>;
}

/** When a node fetches an image it does not hold (UKC `ImageSpec.pull_policy`). */
export const PULL_POLICIES = ['always', 'if_not_present', 'never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** How to fetch an image reference: the non-`url` parts of a UKC `ImageSpec`. */
export interface ImageSource {
  /** Default `if_not_present`. */
  pullPolicy?: PullPolicy;
  credentials?: { username: string; password: string };
  /** Extra HTTP headers for the registry (only registry-auth ones are sent). */
  headers?: Record<string, string>;
  /** On whose behalf: only images this user may read are resolved, and a pull lands only where they may store it. */
  user?: { uuid: string; admin: boolean };
}

/** One image the node holds: a manifest (or index) digest in one repository, with the tags on it. */
export interface HeldImage {
  repo: string;
  digest: string;
  /** Tags in `repo` pointing at `digest`, newest first. */
  tags: string[];
  createdAt: Date;
  sizeBytes: number;
  config: ImageConfig;
  /** `oci`, `unikernel`, `rom`, `initrd` or `urunc`. */
  kind: string;
  initrdOrRom: boolean;
  /** `linux/amd64`, `kraftcloud/x86_64` … */
  platform: string | undefined;
  /** Who pushed the newest tag, when known. */
  owner: string | undefined;
  /** Names of the users whose instances use it. */
  users: string[];
  pinned: boolean;
  /** The parts of a Unikraft/urunc image, as stored. */
  unikernel?: UnikernelParts;
}

/** Kernel, initrd and ROM layers of a Unikraft image, its Unikraft version and kernel config, urunc annotations. */
export interface UnikernelParts {
  kernel?: { digest: string; size: number; path: string };
  initrd?: { digest: string; size: number; path: string };
  roms: Array<{ name?: string; digest: string; size: number; format?: string; aligned: boolean }>;
  osVersion?: string;
  osFeatures: string[];
  urunc?: Record<string, string>;
}

export interface ImageFilter {
  digest?: string;
  /** `name:tag`, `host/name:tag`, or a bare tag. */
  tag?: string;
}

export interface PinRequest {
  url: string;
  source: ImageSource;
  /** Seconds to wait for the pull; -1 = no limit; 0 = do not wait. */
  timeoutS: number;
  /** Unpin by itself after this long. */
  autokillMs?: number;
}

export interface PinnedImage {
  uuid: string;
  /** The reference as normalised by the node (`name:tag` or `name@sha256:…`). */
  url: string;
  repo: string;
  digest: string | undefined;
  tags: string[];
  createdAt: string;
  /** `ready` once pulled; `pulling` while the pull goes on. */
  state: 'ready' | 'pulling';
  /** uuid of the user who pinned it. */
  owner: string;
  expiresAt?: string;
}

/** A repository as a registry's control plane lists it. */
export interface RepositoryListing {
  name: string;
  tags: Array<{ name: string; digest: string; size: number; pushTime: string }>;
}

/** What the images API needs: listing, pins and removal (refused while an instance uses the image). */
export interface ImageCatalog {
  list(filter?: ImageFilter, viewer?: { uuid: string; admin: boolean }): Promise<HeldImage[]>;
  pin(owner: string, req: PinRequest): Promise<PinnedImage>;
  unpin(uuid: string, viewer: { uuid: string; admin: boolean }): Promise<PinnedImage>;
  pins(viewer: { uuid: string; admin: boolean }): Promise<PinnedImage[]>;
  /** Removes a tag, or every tag of a digest; refuses when an instance uses the image or it is pinned, or `viewer` may not write its repository. */
  remove(ref: string, viewer?: { uuid: string; admin: boolean }): Promise<HeldImage[]>;
  /** The repositories `viewer` may read (default: all). */
  repositories(viewer?: { uuid: string; admin: boolean }): Promise<RepositoryListing[]>;
}
