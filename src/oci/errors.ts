import { HangarError } from '../lib/errors.js';

/**
 * A document that does not follow the OCI model. `reason` lets the registry
 * answer MANIFEST_INVALID or UNSUPPORTED; everyone else sees an
 * invalid_argument naming `image`.
 */
export class OciFormatError extends HangarError {
  readonly reason: 'invalid' | 'unsupported';
  readonly detail: unknown;

  constructor(reason: 'invalid' | 'unsupported', message: string, detail?: unknown) {
    super('invalid_argument', message, { field: 'image' });
    this.name = 'OciFormatError';
    this.reason = reason;
    this.detail = detail;
  }
}

export const ociInvalid = (message: string, detail?: unknown): OciFormatError => new OciFormatError('invalid', message, detail);
export const ociUnsupported = (message: string, detail?: unknown): OciFormatError => new OciFormatError('unsupported', message, detail);
