/** What the registry accepts and how long it keeps what nothing references yet. */
import { RegistryError } from './errors.js';

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

/** Limits from `HANGAR_REGISTRY_MAX_BLOB_BYTES` and `HANGAR_REGISTRY_MAX_MANIFEST_BYTES` (unset: the defaults). */
export function limitsFromEnv(env: NodeJS.ProcessEnv): Partial<RegistryLimits> {
  const out: Partial<RegistryLimits> = {};
  const num = (k: string): number | undefined => {
    const v = env[k];
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/.test(v)) throw new RegistryError('UNSUPPORTED', `${k} must be a number of bytes, got '${v}'`, { kind: 'invalid_argument', field: k });
    return Number(v);
  };
  const blob = num('HANGAR_REGISTRY_MAX_BLOB_BYTES');
  const manifest = num('HANGAR_REGISTRY_MAX_MANIFEST_BYTES');
  if (blob !== undefined) out.maxBlobBytes = blob;
  if (manifest !== undefined) out.maxManifestBytes = manifest;
  return out;
}
