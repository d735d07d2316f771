/**
 * Registry errors: a HangarError (so the rest of the node sees the usual
 * kinds) that also carries the OCI Distribution error code and HTTP status
 * the /v2/ API answers with.
 */
import { HangarError, type ErrorKind } from '../lib/errors.js';

export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOO_MANY_REQUESTS';

const DEFAULTS: Record<OciErrorCode, { status: number; kind: ErrorKind }> = {
  BLOB_UNKNOWN: { status: 404, kind: 'not_found' },
  BLOB_UPLOAD_INVALID: { status: 400, kind: 'invalid_argument' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, kind: 'not_found' },
  DIGEST_INVALID: { status: 400, kind: 'invalid_argument' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, kind: 'not_found' },
  MANIFEST_INVALID: { status: 400, kind: 'invalid_argument' },
  MANIFEST_UNKNOWN: { status: 404, kind: 'not_found' },
  NAME_INVALID: { status: 400, kind: 'invalid_argument' },
  NAME_UNKNOWN: { status: 404, kind: 'not_found' },
  SIZE_INVALID: { status: 400, kind: 'invalid_argument' },
  UNAUTHORIZED: { status: 401, kind: 'unauthenticated' },
  DENIED: { status: 403, kind: 'permission_denied' },
  UNSUPPORTED: { status: 415, kind: 'invalid_argument' },
  TOO_MANY_REQUESTS: { status: 429, kind: 'resource_exhausted' },
};

export class RegistryError extends HangarError {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  /** Extra response headers (e.g. `Range` on a 416). */
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, message: string, opts: { status?: number; kind?: ErrorKind; detail?: unknown; headers?: Record<string, string>; field?: string } = {}) {
    const d = DEFAULTS[code];
    super(opts.kind ?? d.kind, message, opts.field === undefined ? {} : { field: opts.field });
    this.name = 'RegistryError';
    this.code = code;
    this.status = opts.status ?? d.status;
    this.detail = opts.detail;
    this.headers = opts.headers ?? {};
  }
}

export const regError = (code: OciErrorCode, message: string, opts?: ConstructorParameters<typeof RegistryError>[2]): RegistryError => new RegistryError(code, message, opts);

/** The OCI code for any error: RegistryError keeps its own, a HangarError maps by kind. */
export function toRegistryError(e: unknown): RegistryError {
  if (e instanceof RegistryError) return e;
  if (e instanceof HangarError) {
    const byKind: Partial<Record<ErrorKind, OciErrorCode>> = {
      invalid_argument: 'MANIFEST_INVALID',
      not_found: 'NAME_UNKNOWN',
      unauthenticated: 'UNAUTHORIZED',
      permission_denied: 'DENIED',
      failed_precondition: 'DENIED',
      resource_exhausted: 'TOO_MANY_REQUESTS',
    };
    const code = byKind[e.kind];
    if (code) return new RegistryError(code, e.message, { kind: e.kind, ...(e.kind === 'failed_precondition' ? { status: 409 } : {}) });
  }
  const err = new RegistryError('UNSUPPORTED', e instanceof Error ? e.message : String(e), { status: 500, kind: 'internal' });
  return err;
}
