import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { asHangarError, type ErrorKind, type HangarError } from '../lib/errors.js';

/**
 * The one place where error kinds become HTTP statuses and the integer `error`
 * codes of in-band entries. UKC publishes only 8 (not found); the others follow
 * gRPC's numbering and are listed in docs/compat.md.
 */
const HTTP: Record<ErrorKind, ContentfulStatusCode> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 409,
  timeout: 408,
  resource_exhausted: 429,
  too_large: 413,
  unavailable: 503,
  internal: 500,
};

const CODE: Record<ErrorKind, number> = {
  invalid_argument: 3,
  timeout: 4,
  already_exists: 6,
  permission_denied: 7,
  not_found: 8,
  failed_precondition: 9,
  resource_exhausted: 11,
  too_large: 11,
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
};

export const httpStatusOf = (e: HangarError): ContentfulStatusCode => HTTP[e.kind];
export const entryCodeOf = (e: HangarError): number => CODE[e.kind];

export function toHangarError(e: unknown): HangarError {
  return asHangarError(e, 'internal');
}
