import { z } from 'zod';
import { PULL_POLICIES } from '../../core/ports/images.js';
import { uuidSchema } from './common.js';

/** Images API shapes (shared/reference/ukc-api.md §3.5, §3.8); strict like every other body. */

const int = z.number().int();
const digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'must be sha256:<64 hex>');
const tag = z.string().min(1).max(512);

export const credentialsSchema = z.strictObject({ username: z.string().max(1024), password: z.string().max(8192) });
export const headersSchema = z.record(z.string().min(1).max(256).regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'), z.string().max(8192));

/** `GET /v1/images` filters: query `digest`, `tag` (repeatable), or a GET body `[{digest?|tag?}]`. */
export const imageFilterSchema = z.strictObject({ digest: digest.optional(), tag: tag.optional() });
export const imageListQuerySchema = z.strictObject({
  digest: z.array(digest).optional(),
  tag: z.array(tag).optional(),
  details: z.enum(['true', 'false', '1', '0']).optional(),
});

/** `POST /v1/images` (pin) item: `PinImageRequestItem`. */
export const pinItemSchema = z.strictObject({
  url: z.string().min(1).max(512),
  credentials: credentialsSchema.optional(),
  headers: headersSchema.optional(),
  pull_policy: z.enum(PULL_POLICIES).optional(),
  timeout_s: int.min(-1),
  merge_requests: z.boolean().optional(),
  autokill: z.strictObject({ time_ms: int.positive() }).optional(),
});
export type PinItem = z.infer<typeof pinItemSchema>;

/** `DELETE /v1/images` (unpin) item. */
export const unpinItemSchema = z.strictObject({ uuid: uuidSchema });

/** `GET /v1/registry/images`: the control-plane listing. */
export const registryListQuerySchema = z.strictObject({
  namespace: z.array(z.string().min(1).max(255)).optional(),
  details: z.enum(['true', 'false', '1', '0']).optional(),
});

/** `DELETE /v1/registry/images` item: a repository and one of tag or digest. */
export const registryDeleteItemSchema = z
  .strictObject({ name: z.string().min(1).max(255), tag: z.string().min(1).max(128).optional(), digest: digest.optional() })
  .superRefine((v, ctx) => {
    if (v.tag !== undefined && v.digest !== undefined) ctx.addIssue({ code: 'custom', message: 'give tag or digest, not both', path: ['digest'] });
  });
