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
  /** Resolves `name[:tag]` or `name@sha256:…`; rejects with not_found if the node does not hold it. */
  resolve(ref: string): Promise<ResolvedImage>;
  list(): Promise<ImageRecord[]>;
}
