import { Hono } from 'hono';
import type { ServiceGroup, GroupRef, DomainInput, ServiceInput } from '../../core/services/group.js';
import type { GroupUpdate } from '../../core/services/service.js';
import type { User } from '../../core/ports/store.js';
import { HangarError, invalid } from '../../lib/errors.js';
import type { ApiDeps, AppEnv, Ctx } from '../context.js';
import { entriesEnvelope, errorEntry, type Entry } from '../envelope.js';
import { toHangarError } from '../errors.js';
import { parseBool, pathUuid, perItem, queryLists, readJson, requireJson, yieldToLoop, type RefLike } from '../request.js';
import { oneOrMany, parseWith, refSchema, type Ref } from '../schemas/common.js';
import {
  createGroupSchema,
  deleteItemSchema,
  domainsDelSchema,
  domainsValueSchema,
  limitValueSchema,
  listQuerySchema,
  portsDelSchema,
  servicesValueSchema,
  updateByUuidSchema,
  updateItemSchema,
  type CreateGroupBody,
  type DomainBody,
  type ServiceBody,
} from '../schemas/services.js';
import { groupToWire } from '../wire/service-group.js';
import { pageByCreated, pageOf, storePage } from '../paging.js';

const KEY = 'service_groups';

const toRef = (r: RefLike): GroupRef => (r.uuid !== undefined ? { uuid: r.uuid.toLowerCase() } : { name: r.name ?? '' });

export const toServiceInput = (s: ServiceBody): ServiceInput => ({
  port: s.port,
  ...(s.destination_port !== undefined ? { destinationPort: s.destination_port } : {}),
  ...(s.protocol !== undefined ? { protocol: s.protocol } : {}),
  ...(s.handlers !== undefined ? { handlers: s.handlers } : {}),
});

export const toDomainInput = (d: DomainBody): DomainInput => ({
  name: d.name,
  ...(d.certificate !== undefined ? { certificate: d.certificate.uuid !== undefined ? { uuid: d.certificate.uuid } : { name: d.certificate.name ?? '' } } : {}),
});

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** A PATCH item's value shaped for its property (errors name `value…`). */
function toUpdate(prop: string, op: 'set' | 'add' | 'del', value: unknown): GroupUpdate {
  switch (prop) {
    case 'services':
      if (op === 'del') {
        const ports = parseWith(portsDelSchema, value, 'value');
        return ports === undefined ? { prop, op } : { prop, op, ports: list(ports).map((p) => (typeof p === 'number' ? p : p.port)) };
      }
      return { prop, op, services: list(parseWith(servicesValueSchema, value, 'value')).map(toServiceInput) };
    case 'domains':
      if (op === 'del') {
        const names = parseWith(domainsDelSchema, value, 'value');
        return names === undefined ? { prop, op } : { prop, op, names: list(names).map((n) => (typeof n === 'string' ? n : n.name)) };
      }
      return { prop, op, domains: list(parseWith(domainsValueSchema, value, 'value')).map(toDomainInput) };
    case 'soft_limit':
    case 'hard_limit':
      if (op === 'del') return { prop, op };
      if (op !== 'set') throw invalid('op', `'${prop}' takes only set or del`);
      return { prop, op, value: parseWith(limitValueSchema, value, 'value') };
    default:
      throw invalid('prop', `'${prop}' is not supported on this node yet`);
  }
}

function toGroupInput(b: CreateGroupBody) {
  if (b.autokill !== undefined) throw invalid('autokill', 'not supported on this node yet');
  return {
    ...(b.name !== undefined ? { name: b.name } : {}),
    services: b.services.map(toServiceInput),
    ...(b.domains !== undefined ? { domains: b.domains.map(toDomainInput) } : {}),
    ...(b.soft_limit !== undefined ? { softLimit: b.soft_limit } : {}),
    ...(b.hard_limit !== undefined ? { hardLimit: b.hard_limit } : {}),
  };
}

/** Refs given as repeated query params (js-sdk) or as a GET body array (go-sdk). */
function refsFrom(q: { uuid?: string[] | undefined; name?: string[] | undefined }, body: unknown): Ref[] {
  const refs: Ref[] = [];
  for (const u of q.uuid ?? []) refs.push(parseWith(refSchema, { uuid: u }, 'uuid'));
  for (const n of q.name ?? []) refs.push({ name: n });
  if (body !== undefined) list(body).forEach((b, i) => refs.push(parseWith(refSchema, b, `[${i}]`)));
  return refs;
}

export function serviceRoutes(deps: ApiDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const svc = () => {
    if (!deps.services) throw new HangarError('unavailable', 'this node has no service groups');
    return deps.services;
  };
  const user = (c: Ctx): User => c.get('user');
  const reply = (c: Ctx, entries: Entry[]) => c.json(entriesEnvelope(KEY, entries, c.get('startedUs')));
  const wire = async (g: ServiceGroup, details = true): Promise<Entry> => groupToWire(g, details ? await svc().members(g) : [], details) as Entry;

  // --- create -------------------------------------------------------------
  app.post('/', async (c) => {
    const { items, bulk } = oneOrMany(createGroupSchema, await requireJson(c));
    if (!bulk) return reply(c, [await wire(await svc().create(user(c), toGroupInput(items[0]!)))]);
    const entries: Entry[] = [];
    for (const it of items) {
      await yieldToLoop();
      try {
        entries.push(await wire(await svc().create(user(c), toGroupInput(it))));
      } catch (e) {
        entries.push(errorEntry(toHangarError(e), { name: it.name }));
      }
    }
    return reply(c, entries);
  });

  // --- list / get ---------------------------------------------------------
  app.get('/', async (c) => {
    const q = parseWith(listQuerySchema, queryLists(c, ['uuid', 'name']), 'query');
    const details = parseBool(q.details, true);
    const refs = refsFrom(q, await readJson(c));
    if (refs.length > 0) return reply(c, await perItem(refs, async (r) => wire(await svc().find(user(c), toRef(r)), details)));
    const page = pageOf(q);
    const groups = pageByCreated(await svc().list(user(c), storePage(page)), page);
    const entries: Entry[] = [];
    for (const g of groups) entries.push(await wire(g, details));
    return reply(c, entries);
  });

  app.get('/:uuid', async (c) => {
    const uuid = pathUuid(c);
    const details = parseBool(c.req.query('details'), true);
    return reply(c, await perItem([{ uuid }], async () => wire(await svc().find(user(c), { uuid }), details)));
  });

  // --- update -------------------------------------------------------------
  const updateOne = async (u: User, ref: GroupRef, it: { prop: string; op: 'set' | 'add' | 'del'; value?: unknown; id?: string | undefined }): Promise<Entry> => {
    const g = await svc().update(u, ref, toUpdate(it.prop, it.op, it.value));
    return { status: 'success', uuid: g.uuid, name: g.name, ...(it.id !== undefined ? { id: it.id } : {}) };
  };
  app.patch('/', async (c) => {
    const { items } = oneOrMany(updateItemSchema, await requireJson(c));
    // Values are shaped up front: a malformed one is a 400, as on create.
    const bulk = Array.isArray(items) && items.length > 1;
    items.forEach((it, i) => {
      try {
        toUpdate(it.prop, it.op, it.value);
      } catch (e) {
        if (bulk && e instanceof HangarError && e.field !== undefined) throw invalid(`[${i}].${e.field}`, e.message.slice(e.field.length + 2));
        throw e;
      }
    });
    return reply(c, await perItem(items, (it) => updateOne(user(c), toRef(it), it), { concurrency: 1 }));
  });
  app.patch('/:uuid', async (c) => {
    const uuid = pathUuid(c);
    const body = await requireJson(c);
    const items = Array.isArray(body) ? body.map((b, i) => parseWith(updateByUuidSchema, b, `[${i}]`)) : [parseWith(updateByUuidSchema, body)];
    for (const it of items) toUpdate(it.prop, it.op, it.value);
    const entries: Entry[] = [];
    for (const it of items) entries.push(...(await perItem([{ uuid, id: it.id }], () => updateOne(user(c), { uuid }, it))));
    return reply(c, entries);
  });

  // --- delete -------------------------------------------------------------
  const deleteOne = async (u: User, ref: GroupRef): Promise<Entry> => {
    const g = await svc().remove(u, ref);
    return { status: 'success', uuid: g.uuid, name: g.name };
  };
  app.delete('/', async (c) => {
    const { items } = oneOrMany(deleteItemSchema, await requireJson(c));
    return reply(c, await perItem(items, (it) => deleteOne(user(c), toRef(it)), { concurrency: 1 }));
  });
  app.delete('/:uuid', async (c) => {
    const uuid = pathUuid(c);
    return reply(c, await perItem([{ uuid }], () => deleteOne(user(c), { uuid })));
  });

  return app;
}
