import { z } from 'zod';
import { HangarError } from '../../lib/errors.js';
import { UUID_RE } from '../../lib/ids.js';

/**
 * Request shapes, written from shared/reference/ukc-api.md. Objects are strict:
 * an unknown field is an error naming it, as UKC does.
 */

export const uuidSchema = z.string().regex(UUID_RE, 'must be a UUID');

/** `{uuid}` or `{name}`, exactly one. */
export const refFields = {
  uuid: uuidSchema.optional(),
  name: z.string().min(1).max(253).optional(),
};

export function exactlyOneRef(v: { uuid?: string | undefined; name?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((v.uuid === undefined) === (v.name === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'give exactly one of uuid or name', path: v.uuid === undefined ? ['uuid'] : ['name'] });
  }
}

export const refSchema = z.strictObject(refFields).superRefine(exactlyOneRef);
export type Ref = z.infer<typeof refSchema>;

/** Renders a zod failure as one HangarError that names the first bad field. */
export function toInvalid(err: z.ZodError, prefix = ''): HangarError {
  const issue = err.issues[0];
  if (!issue) return new HangarError('invalid_argument', 'invalid request');
  let path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    path = `${path}.${key}`;
    message = 'unknown field';
  }
  const field = `${prefix}${path}`.replace(/^[.]/, '') || 'body';
  return new HangarError('invalid_argument', `${field}: ${message}`, { field });
}

export function parseWith<T>(schema: z.ZodType<T>, value: unknown, prefix = ''): T {
  const r = schema.safeParse(value);
  if (!r.success) throw toInvalid(r.error, prefix);
  return r.data;
}

/** A body that may be one object or an array of them (bulk form). */
export function oneOrMany<T>(schema: z.ZodType<T>, value: unknown): { items: T[]; bulk: boolean } {
  if (Array.isArray(value)) {
    if (value.length === 0) throw new HangarError('invalid_argument', 'body: empty array', { field: 'body' });
    if (value.length > 1000) throw new HangarError('invalid_argument', 'body: at most 1000 items', { field: 'body' });
    return { items: value.map((v, i) => parseWith(schema, v, `[${i}]`)), bulk: true };
  }
  return { items: [parseWith(schema, value)], bulk: false };
}

/** The PATCH item forms of the contract (`{uuid|name, prop, op, value}`, and by path UUID) over `props`. */
export function patchSchemas<P extends readonly [string, ...string[]]>(props: P) {
  const fields = {
    id: z.string().max(128).optional(),
    prop: z.enum(props),
    op: z.enum(['set', 'add', 'del']),
    value: z.unknown().optional(),
  };
  return { item: z.strictObject({ ...refFields, ...fields }).superRefine(exactlyOneRef), byUuid: z.strictObject(fields) };
}
