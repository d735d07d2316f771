import { z } from 'zod';
import { FEATURES, INSTANCE_STATES, RESTART_POLICIES } from '../../core/instance.js';
import { UPDATABLE_PROPS } from '../../core/instances/update.js';
import { exactlyOneRef, patchSchemas, refFields } from './common.js';
import { instanceGroupSchema } from './services.js';

const int = z.number().int();
const envName = z.string().min(1).max(256);

/*
 * Strings that reach execve: a NUL would cut them short (the kernel reads C
 * strings), so the sandbox would fail at start. Refused here, naming the field.
 */
const noNul = (s: string): boolean => !s.includes('\0');
const execString = z.string().max(4096).refine(noNul, 'must not contain NUL bytes');
const envValue = z.string().max(32768).refine(noNul, 'must not contain NUL bytes');
/** args[0] is the program: an empty one cannot be executed. */
const argList = z
  .array(execString)
  .max(256)
  .superRefine((a, ctx) => {
    if (a[0] === '') ctx.addIssue({ code: 'custom', message: 'the program (first argument) must not be empty', path: [0] });
  });

export const imageSpecSchema = z.strictObject({
  url: z.string().min(1).max(512),
  credentials: z.strictObject({ username: z.string(), password: z.string() }).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  pull_policy: z.enum(['always', 'if_not_present', 'never']).optional(),
});

/** One ROM (ukc-api.md §4 `roms`): shapes only; the rules (limits, names, `at`, paths, base64) are core/instances/rom-input.ts's. */
export const romFileSchema = z.strictObject({
  path: z.string().max(4096),
  encoding: z.enum(['text', 'base64']).optional(),
  data: z.string(),
});
export const romSchema = z.strictObject({
  name: z.string().max(63).optional(),
  image: z.union([z.string().min(1).max(512), imageSpecSchema]).optional(),
  at: z.string().max(1024).optional(),
  files: z.array(romFileSchema).max(16, 'at most 16 files per inline ROM').optional(),
});
export type RomBody = z.infer<typeof romSchema>;
export const romsSchema = z.array(romSchema).max(8, 'at most 8 ROMs per instance');
/** PATCH `roms`: `set`/`add` take ROMs (one or an array), `del` names (one or an array; none = all). */
export const romsAddSchema = z.union([romsSchema, romSchema]);
export const romsDelSchema = z.union([z.string().min(1).max(63), z.array(z.string().min(1).max(63)).max(8)]).optional();

/** What PATCH may change: the core's updatable fields, and `roms` (their own path: they need the ROM store). */
export const UPDATE_PROPS = [...UPDATABLE_PROPS, 'roms'] as const;

export const createInstanceSchema = z.strictObject({
  name: z.string().min(1).max(63).optional(),
  image: z.union([z.string().min(1).max(512), imageSpecSchema]),
  args: argList.optional(),
  env: z.record(envName, envValue).optional(),
  memory_mb: int.positive().optional(),
  vcpus: int.positive().optional(),
  autostart: z.boolean().optional(),
  timeout_s: int.min(-1).optional(),
  wait_timeout_ms: int.min(-1).optional(),
  replicas: int.min(0).optional(),
  restart_policy: z.enum(RESTART_POLICIES).optional(),
  features: z.array(z.enum(FEATURES)).max(8).optional(),
  tags: z.array(z.string().min(1).max(128)).max(64).optional(),
  hostname: z.string().min(1).max(63).optional(),
  roms: romsSchema.optional(),
  service_group: instanceGroupSchema.optional(),
});
export type CreateInstanceBody = z.infer<typeof createInstanceSchema>;

export const deleteItemSchema = z.strictObject({ ...refFields, timeout_s: int.optional(), dont_retain: z.boolean().optional() }).superRefine(exactlyOneRef);
export const deleteByUuidSchema = z.strictObject({ timeout_s: int.optional(), dont_retain: z.boolean().optional() });

export const startItemSchema = z.strictObject({ ...refFields, timeout_s: int.min(-1).optional(), wait_timeout_ms: int.min(-1).optional() }).superRefine(exactlyOneRef);
export const startByUuidSchema = z.strictObject({ timeout_s: int.min(-1).optional(), wait_timeout_ms: int.min(-1).optional() });

const stopFields = {
  force: z.boolean().optional(),
  drain_timeout_ms: int.min(-1).optional(),
  quick: z.boolean().optional(),
  ifstate: z.string().optional(),
  dump: z.boolean().optional(),
};
export const stopItemSchema = z.strictObject({ ...refFields, ...stopFields }).superRefine(exactlyOneRef);
export const stopByUuidSchema = z.strictObject(stopFields);

export const suspendItemSchema = z.strictObject({ ...refFields, drain_timeout_ms: int.min(-1).optional() }).superRefine(exactlyOneRef);
export const suspendByUuidSchema = z.strictObject({ drain_timeout_ms: int.min(-1).optional() });

const update = patchSchemas(UPDATE_PROPS);
export const updateItemSchema = update.item;
export const updateByUuidSchema = update.byUuid;

export const stateSchema = z.enum(INSTANCE_STATES);

/** GET bodies (go-sdk style) for wait and log. */
export const waitItemSchema = z.strictObject({ ...refFields, state: stateSchema.optional(), timeout_s: int.min(-1).optional(), timeout_ms: int.min(-1).optional() }).superRefine(exactlyOneRef);
export const waitByUuidSchema = z.strictObject({ state: stateSchema.optional(), timeout_s: int.min(-1).optional(), timeout_ms: int.min(-1).optional() });
export const logItemSchema = z.strictObject({ ...refFields, offset: int.optional(), limit: int.min(0).optional() }).superRefine(exactlyOneRef);
export const logByUuidSchema = z.strictObject({ offset: int.optional(), limit: int.min(0).optional() });

export const listQuerySchema = z.strictObject({
  uuid: z.array(z.string()).optional(),
  name: z.array(z.string()).optional(),
  details: z.enum(['true', 'false', '1', '0']).optional(),
  count: z.string().regex(/^\d+$/, 'must be a non-negative integer').optional(),
  from: z.string().optional(),
  order: z.enum(['asc', 'desc']).optional(),
  sortby: z.enum(['create_time', 'created_at']).optional(),
  tags: z.array(z.string()).optional(),
  metrics: z.string().optional(),
});
