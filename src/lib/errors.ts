/**
 * The few error kinds hangar knows. Every layer throws these (with context);
 * only api/errors.ts turns them into HTTP status codes and UKC envelopes.
 */
export type ErrorKind =
  | 'invalid_argument' // the caller sent something wrong; `field` names it
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition' // valid request, wrong state (e.g. template is immutable)
  | 'unauthenticated'
  | 'permission_denied'
  | 'resource_exhausted' // quota or limit
  | 'too_large' // a request body over the API's limit (HTTP 413)
  | 'timeout'
  | 'unavailable' // a dependency (runtime, registry) failed; retrying may help
  | 'internal';

export class HangarError extends Error {
  readonly kind: ErrorKind;
  readonly field: string | undefined;

  constructor(kind: ErrorKind, message: string, opts: { field?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HangarError';
    this.kind = kind;
    this.field = opts.field;
  }
}

export const invalid = (field: string, message: string): HangarError =>
  new HangarError('invalid_argument', `${field}: ${message}`, { field });

export const notFound = (message: string): HangarError => new HangarError('not_found', message);

export const isHangarError = (e: unknown): e is HangarError => e instanceof HangarError;

/** Wraps anything thrown into a HangarError, keeping kinds that are already known. */
export function asHangarError(e: unknown, kind: ErrorKind = 'internal'): HangarError {
  if (e instanceof HangarError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new HangarError(kind, message, { cause: e });
}
