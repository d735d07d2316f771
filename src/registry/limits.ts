/** What the registry accepts and how long it keeps what nothing references yet. */

export interface RegistryLimits {
  /** Largest blob accepted (default 10 GiB). */
  maxBlobBytes: number;
  /** Largest manifest or index accepted (default 4 MiB). */
  maxManifestBytes: number;
  /** Upload sessions open at once (default 1000); more are refused with TOO_MANY_REQUESTS. */
  maxUploads: number;
  /** An upload session idle this long is removed (default 24 h). */
  uploadTtlMs: number;
  /** gc keeps content pushed less than this long ago that nothing references yet (default 1 h): a push in progress. */
  graceMs: number;
}

export const DEFAULT_LIMITS: RegistryLimits = {
  maxBlobBytes: 10 * 1024 ** 3,
  maxManifestBytes: 4 * 1024 * 1024,
  maxUploads: 1000,
  uploadTtlMs: 24 * 3600_000,
  graceMs: 3600_000,
};
