import { z } from 'zod';
import { exactlyOneRef, patchSchemas, refFields, refSchema } from './common.js';

/**
 * Service group requests (ukc-api.md §3.2): shapes only. The rules (handlers
 * per port, ranges, domain syntax, limits) are core/services/rules.ts's, so
 * the API and inline groups on instance create apply the same ones.
 */

const int = z.number().int();

export const serviceSchema = z.strictObject({
  port: int,
  destination_port: int.optional(),
  protocol: z.string().optional(),
  handlers: z.array(z.string()).max(8).optional(),
});
export type ServiceBody = z.infer<typeof serviceSchema>;

export const domainSchema = z.strictObject({
  name: z.string().max(254),
  certificate: refSchema.optional(),
});
export type DomainBody = z.infer<typeof domainSchema>;

const groupFields = {
  services: z.array(serviceSchema).max(64),
  domains: z.array(domainSchema).max(64).optional(),
  soft_limit: int.optional(),
  hard_limit: int.optional(),
};

export const createGroupSchema = z.strictObject({
  name: z.string().min(1).max(63).optional(),
  ...groupFields,
  autokill: z.unknown().optional(),
});
export type CreateGroupBody = z.infer<typeof createGroupSchema>;

/**
 * `service_group` on instance create: `{uuid}` or `{name}` of an existing
 * group, or an inline definition (`services` …). One object rather than a
 * union, so a bad field is named by its path instead of "invalid input".
 */
export const instanceGroupSchema = z
  .strictObject({ ...refFields, ...groupFields, services: groupFields.services.optional() })
  .superRefine((v, ctx) => {
    if (v.services !== undefined) {
      for (const k of ['uuid', 'name'] as const) if (v[k] !== undefined) ctx.addIssue({ code: 'custom', message: 'give either an existing group (uuid or name) or an inline definition (services), not both', path: [k] });
      return;
    }
    for (const k of ['domains', 'soft_limit', 'hard_limit'] as const) if (v[k] !== undefined) ctx.addIssue({ code: 'custom', message: 'an inline group needs services', path: ['services'] });
    exactlyOneRef(v, ctx);
  });
export type InstanceGroupBody = z.infer<typeof instanceGroupSchema>;

export const GROUP_PROPS = ['services', 'domains', 'soft_limit', 'hard_limit', 'autokill'] as const;

const update = patchSchemas(GROUP_PROPS);
export const updateItemSchema = update.item;
export const updateByUuidSchema = update.byUuid;

/** PATCH values: one item or an array; `del` names ports / domain names (none = all). */
export const servicesValueSchema = z.union([serviceSchema, z.array(serviceSchema).max(64)]);
export const portsDelSchema = z.union([int, z.strictObject({ port: int }), z.array(z.union([int, z.strictObject({ port: int })])).max(64)]).optional();
export const domainsValueSchema = z.union([domainSchema, z.array(domainSchema).max(64)]);
export const domainsDelSchema = z.union([z.string(), z.strictObject({ name: z.string() }), z.array(z.union([z.string(), z.strictObject({ name: z.string() })])).max(64)]).optional();
export const limitValueSchema = int;

export const deleteItemSchema = refSchema;

export const listQuerySchema = z.strictObject({
  uuid: z.array(z.string()).optional(),
  name: z.array(z.string()).optional(),
  details: z.enum(['true', 'false', '1', '0']).optional(),
  count: z.string().regex(/^\d+$/, 'must be a non-negative integer').optional(),
  from: z.string().optional(),
  order: z.enum(['asc', 'desc']).optional(),
  sortby: z.enum(['create_time', 'created_at']).optional(),
});
