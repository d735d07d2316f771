import { Hono } from 'hono';
import { z } from 'zod';
import type { Instance, InstanceState } from '../../core/instance.js';
import type { InstanceRef } from '../../core/instances/service.js';
import type { User } from '../../core/ports/store.js';
import { invalid } from '../../lib/errors.js';
import type { ApiDeps, AppEnv, Ctx } from '../context.js';
import { entriesEnvelope, errorEntry, type Entry } from '../envelope.js';
import { toHangarError } from '../errors.js';
import { pathUuid, parseBool, perItem, queryLists, readJson, requireJson, yieldToLoop, type RefLike } from '../request.js';
import { oneOrMany, parseWith, refSchema, type Ref } from '../schemas/common.js';
import {
  createInstanceSchema,
  deleteByUuidSchema,
  deleteItemSchema,
  listQuerySchema,
  logByUuidSchema,
  logItemSchema,
  startByUuidSchema,
  startItemSchema,
  stateSchema,
  stopByUuidSchema,
  stopItemSchema,
  suspendByUuidSchema,
  suspendItemSchema,
  updateByUuidSchema,
  updateItemSchema,
  waitByUuidSchema,
  waitItemSchema,
  UPDATE_PROPS,
} from '../schemas/instances.js';
import { instanceToWire } from '../wire/instance.js';
import { toCreateInput, toRomsUpdate } from './instance-input.js';
import { pageByCreated, pageOf, storePage } from '../paging.js';

const KEY = 'instances';
const MAX_LOG_CHUNK = 1024 * 1024;

const toRef = (r: RefLike): InstanceRef => (r.uuid !== undefined ? { uuid: r.uuid.toLowerCase() } : { name: r.name ?? '' });

function refsFrom(q: Record<string, string | string[]>, body: unknown): Ref[] {
  const refs: Ref[] = [];
  for (const u of (q['uuid'] as string[] | undefined) ?? []) refs.push(parseWith(refSchema, { uuid: u }, 'uuid'));
  for (const n of (q['name'] as string[] | undefined) ?? []) refs.push({ name: n });
  if (body !== undefined) {
    const arr = Array.isArray(body) ? body : [body];
    arr.forEach((b, i) => refs.push(parseWith(refSchema, b, `[${i}]`)));
  }
  return refs;
}

/** `?k=a&k=b` lists that pair up by position with the refs; one value applies to all. */
const nth = (list: string[] | undefined, i: number): string | undefined => (list && list.length > 0 ? (list[i] ?? list[list.length - 1]) : undefined);

function intParam(field: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw invalid(field, 'must be an integer');
  return Number(v);
}

export function instanceRoutes(deps: ApiDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const svc = deps.instances;
  const wire = async (i: Instance, details = true): Promise<Entry> => {
    // A group is gone only in a race with its last instance's delete; the instance then shows none.
    const group = details && i.serviceGroup !== undefined ? await deps.services?.byUuid(i.serviceGroup) : undefined;
    return instanceToWire(i, svc.uptimeMs(i), details, group) as Entry;
  };
  const wireAll = (list: Instance[], details = true): Promise<Entry[]> => Promise.all(list.map((i) => wire(i, details)));
  const user = (c: Ctx): User => c.get('user');
  const reply = (c: Ctx, entries: Entry[]) => c.json(entriesEnvelope(KEY, entries, c.get('startedUs')));
  const stateEntry = (r: { instance: Instance; previousState: InstanceState }): Entry => ({
    status: 'success',
    uuid: r.instance.uuid,
    name: r.instance.name,
    state: r.instance.state,
    previous_state: r.previousState,
  });

  // --- create -------------------------------------------------------------
  app.post('/', async (c) => {
    const { items, bulk } = oneOrMany(createInstanceSchema, await requireJson(c));
    const inputs = items.map(toCreateInput);
    if (!bulk) {
      const made = await svc.create(user(c), inputs[0]!);
      const ready = await svc.waitRunning(user(c), made, inputs[0]!.timeoutS);
      return c.json(entriesEnvelope(KEY, await wireAll(ready), c.get('startedUs')));
    }
    const entries: Entry[] = [];
    for (const input of inputs) {
      // The store answers synchronously: without this, a 1000-item create holds the event loop to the end.
      await yieldToLoop();
      try {
        const made = await svc.create(user(c), input);
        const ready = await svc.waitRunning(user(c), made, input.timeoutS);
        entries.push(...(await wireAll(ready)));
      } catch (e) {
        entries.push(errorEntry(toHangarError(e), { name: input.name }));
      }
    }
    return reply(c, entries);
  });

  // --- list / get ---------------------------------------------------------
  app.get('/', async (c) => {
    const q = parseWith(listQuerySchema, queryLists(c, ['uuid', 'name', 'tags']), 'query');
    const details = parseBool(q.details, true);
    const refs = refsFrom(q, await readJson(c));
    if (refs.length > 0) return reply(c, await perItem(refs, async (r) => wire(await svc.find(user(c), toRef(r)), details)));
    const page = pageOf(q);
    const list = pageByCreated(await svc.list(user(c), { ...storePage(page), ...(q.tags ? { tags: q.tags } : {}) }), page);
    return reply(c, await wireAll(list, details));
  });

  // --- wait ---------------------------------------------------------------
  interface WaitArgs { ref: Ref; state: InstanceState; ms: number }
  /** Checks a wait's parameters up front, so bad input is a 400 rather than an in-band entry. */
  const waitArgs = (ref: Ref, state: string | undefined, timeoutS: number | undefined, timeoutMs: number | undefined): WaitArgs => {
    const st = parseWith(stateSchema.optional(), state, 'state') ?? 'running';
    const ms = timeoutMs ?? (timeoutS === undefined ? -1 : timeoutS < 0 ? -1 : timeoutS * 1000);
    return { ref, state: st, ms };
  };
  const waitOne = async (u: User, a: WaitArgs): Promise<Entry> => {
    const inst = await svc.wait(u, toRef(a.ref), [a.state], a.ms);
    return { status: 'success', uuid: inst.uuid, name: inst.name, state: inst.state };
  };
  const waitQuerySchema = z.strictObject({
    uuid: z.array(z.string()).optional(),
    name: z.array(z.string()).optional(),
    state: z.array(z.string()).optional(),
    timeout_s: z.array(z.string()).optional(),
    timeout_ms: z.array(z.string()).optional(),
  });
  const waitBulk = async (c: Ctx) => {
    const q = parseWith(waitQuerySchema, queryLists(c, ['uuid', 'name', 'state', 'timeout_s', 'timeout_ms']), 'query');
    const body = await readJson(c);
    if (body !== undefined) {
      const { items } = oneOrMany(waitItemSchema, body);
      const args = items.map((it) => waitArgs(it, it.state ?? nth(q.state, 0), it.timeout_s, it.timeout_ms));
      return reply(c, await perItem(args.map((a) => ({ ...a.ref, a })), (r) => waitOne(user(c), r.a), { concurrency: Infinity }));
    }
    const refs = refsFrom({ ...(q.uuid ? { uuid: q.uuid } : {}), ...(q.name ? { name: q.name } : {}) }, undefined);
    if (refs.length === 0) throw invalid('uuid', 'name at least one instance (uuid or name)');
    const args = refs.map((r, i) => waitArgs(r, nth(q.state, i), intParam('timeout_s', nth(q.timeout_s, i)), intParam('timeout_ms', nth(q.timeout_ms, i))));
    return reply(c, await perItem(args.map((a) => ({ ...a.ref, a })), (r) => waitOne(user(c), r.a), { concurrency: Infinity }));
  };
  app.get('/wait', waitBulk);
  app.put('/wait', waitBulk); // legacy form: PUT with a body
  app.get('/:uuid/wait', async (c) => {
    const uuid = pathUuid(c);
    const q = parseWith(waitQuerySchema.omit({ uuid: true, name: true }), queryLists(c, ['state', 'timeout_s', 'timeout_ms']), 'query');
    const b = parseWith(waitByUuidSchema, (await readJson(c)) ?? {});
    const a = waitArgs({ uuid }, b.state ?? nth(q.state, 0), b.timeout_s ?? intParam('timeout_s', nth(q.timeout_s, 0)), b.timeout_ms ?? intParam('timeout_ms', nth(q.timeout_ms, 0)));
    const entry = await perItem([{ uuid }], () => waitOne(user(c), a));
    return reply(c, entry);
  });

  // --- logs ---------------------------------------------------------------
  const logOne = async (u: User, ref: Ref, offset: number | undefined, limit: number | undefined): Promise<Entry> => {
    const { instance, chunk } = await svc.logs(u, toRef(ref), offset ?? 0, Math.min(limit ?? MAX_LOG_CHUNK, MAX_LOG_CHUNK));
    return {
      status: 'success',
      uuid: instance.uuid,
      name: instance.name,
      output: chunk.data.toString('base64'),
      available: chunk.available,
      range: chunk.range,
      state: instance.state,
    };
  };
  const logQuerySchema = z.strictObject({
    uuid: z.array(z.string()).optional(),
    name: z.array(z.string()).optional(),
    offset: z.array(z.string()).optional(),
    limit: z.array(z.string()).optional(),
  });
  app.get('/log', async (c) => {
    const q = parseWith(logQuerySchema, queryLists(c, ['uuid', 'name', 'offset', 'limit']), 'query');
    const body = await readJson(c);
    if (body !== undefined) {
      const { items } = oneOrMany(logItemSchema, body);
      return reply(c, await perItem(items, (it) => logOne(user(c), it, it.offset, it.limit)));
    }
    const refs = refsFrom({ ...(q.uuid ? { uuid: q.uuid } : {}), ...(q.name ? { name: q.name } : {}) }, undefined);
    if (refs.length === 0) throw invalid('uuid', 'name at least one instance (uuid or name)');
    const args = refs.map((r, i) => ({ ...r, offset: intParam('offset', nth(q.offset, i)), limit: intParam('limit', nth(q.limit, i)) }));
    return reply(c, await perItem(args, (r) => logOne(user(c), r.uuid !== undefined ? { uuid: r.uuid } : { name: r.name ?? '' }, r.offset, r.limit)));
  });
  app.get('/:uuid/log', async (c) => {
    const uuid = pathUuid(c);
    const q = parseWith(logQuerySchema.omit({ uuid: true, name: true }), queryLists(c, ['offset', 'limit']), 'query');
    const b = parseWith(logByUuidSchema, (await readJson(c)) ?? {});
    const offset = b.offset ?? intParam('offset', nth(q.offset, 0));
    const limit = b.limit ?? intParam('limit', nth(q.limit, 0));
    return reply(c, await perItem([{ uuid }], () => logOne(user(c), { uuid }, offset, limit)));
  });

  // --- metrics ------------------------------------------------------------
  const metricsOne = async (u: User, ref: InstanceRef): Promise<Entry> => {
    const m = await svc.metrics(u, ref);
    return {
      status: 'success',
      uuid: m.uuid,
      name: m.name,
      rss_bytes: Math.round(m.rssBytes),
      cpu_time_ms: Math.round(m.cpuTimeMs),
      boot_time_us: m.bootTimeUs,
      net_time_us: m.netTimeUs,
      rx_bytes: m.rxBytes,
      rx_packets: m.rxPackets,
      tx_bytes: m.txBytes,
      tx_packets: m.txPackets,
      nconns: 0,
      nreqs: 0,
      nqueued: 0,
      ntotal: 0,
    };
  };
  app.get('/metrics', async (c) => {
    const q = parseWith(z.strictObject({ uuid: z.array(z.string()).optional(), name: z.array(z.string()).optional() }), queryLists(c, ['uuid', 'name']), 'query');
    const refs = refsFrom(q, await readJson(c));
    if (refs.length === 0) {
      const all = await svc.list(user(c), { count: 0, order: 'asc' });
      return reply(c, await perItem(all.map((i) => ({ uuid: i.uuid })), (r) => metricsOne(user(c), { uuid: r.uuid })));
    }
    return reply(c, await perItem(refs, (r) => metricsOne(user(c), toRef(r))));
  });
  app.get('/:uuid/metrics', async (c) => {
    const uuid = pathUuid(c);
    return reply(c, await perItem([{ uuid }], () => metricsOne(user(c), { uuid })));
  });

  // --- start / stop / suspend ---------------------------------------------
  const startOne = async (u: User, ref: Ref, timeoutS: number | undefined): Promise<Entry> => {
    const r = await svc.start(u, toRef(ref));
    const [inst] = await svc.waitRunning(u, [r.instance], timeoutS);
    return stateEntry({ instance: inst ?? r.instance, previousState: r.previousState });
  };
  const startTimeout = (b: { timeout_s?: number | undefined; wait_timeout_ms?: number | undefined }): number | undefined =>
    b.timeout_s ?? (b.wait_timeout_ms !== undefined ? Math.ceil(b.wait_timeout_ms / 1000) : undefined);
  app.put('/start', async (c) => {
    const { items } = oneOrMany(startItemSchema, await requireJson(c));
    return reply(c, await perItem(items, (it) => startOne(user(c), it, startTimeout(it))));
  });
  app.put('/:uuid/start', async (c) => {
    const uuid = pathUuid(c);
    const b = parseWith(startByUuidSchema, (await readJson(c)) ?? {});
    const legacy = intParam('wait_timeout_ms', c.req.query('wait_timeout_ms'));
    return reply(c, await perItem([{ uuid }], () => startOne(user(c), { uuid }, startTimeout({ ...b, ...(legacy !== undefined ? { wait_timeout_ms: legacy } : {}) }))));
  });

  type StopOpts = { force?: boolean | undefined; drain_timeout_ms?: number | undefined };
  const checkStop = (b: StopOpts): void => {
    if (b.force && b.drain_timeout_ms !== undefined && b.drain_timeout_ms !== 0) throw invalid('drain_timeout_ms', 'cannot be combined with force');
  };
  const stopOne = async (u: User, ref: Ref, b: StopOpts): Promise<Entry> => {
    const drain = b.drain_timeout_ms === -1 ? 60_000 : (b.drain_timeout_ms ?? 0);
    return stateEntry(await svc.stop(u, toRef(ref), { force: b.force ?? false, drainTimeoutMs: drain }));
  };
  app.put('/stop', async (c) => {
    const { items } = oneOrMany(stopItemSchema, await requireJson(c));
    items.forEach(checkStop);
    return reply(c, await perItem(items, (it) => stopOne(user(c), it, it)));
  });
  app.put('/:uuid/stop', async (c) => {
    const uuid = pathUuid(c);
    const b = parseWith(stopByUuidSchema, (await readJson(c)) ?? {});
    const force = c.req.query('force');
    const drain = intParam('drain_timeout_ms', c.req.query('drain_timeout_ms'));
    const opts = { force: b.force ?? (force === undefined ? undefined : parseBool(force, false)), drain_timeout_ms: b.drain_timeout_ms ?? drain };
    checkStop(opts);
    return reply(c, await perItem([{ uuid }], () => stopOne(user(c), { uuid }, opts)));
  });

  app.put('/suspend', async (c) => {
    const { items } = oneOrMany(suspendItemSchema, await requireJson(c));
    return reply(c, await perItem(items, async (it) => stateEntry(await svc.suspend(user(c), toRef(it)))));
  });
  app.put('/:uuid/suspend', async (c) => {
    const uuid = pathUuid(c);
    parseWith(suspendByUuidSchema, (await readJson(c)) ?? {});
    return reply(c, await perItem([{ uuid }], async () => stateEntry(await svc.suspend(user(c), { uuid }))));
  });

  // --- update -------------------------------------------------------------
  type UpdateArgs = { prop: (typeof UPDATE_PROPS)[number]; op: 'set' | 'add' | 'del'; value?: unknown };
  const updateOne = (u: User, ref: InstanceRef, it: UpdateArgs): Promise<Instance> =>
    it.prop === 'roms' ? svc.updateRoms(u, ref, toRomsUpdate(it.op, it.value)) : svc.update(u, ref, { prop: it.prop, op: it.op, value: it.value });
  app.patch('/', async (c) => {
    const { items } = oneOrMany(updateItemSchema, await requireJson(c));
    return reply(c, await perItem(items, async (it) => {
      const inst = await updateOne(user(c), toRef(it), it);
      return { status: 'success', uuid: inst.uuid, name: inst.name, ...(it.id !== undefined ? { id: it.id } : {}) };
    }));
  });
  app.patch('/:uuid', async (c) => {
    const uuid = pathUuid(c);
    const body = await requireJson(c);
    const items = Array.isArray(body) ? body.map((b, i) => parseWith(updateByUuidSchema, b, `[${i}]`)) : [parseWith(updateByUuidSchema, body)];
    const entries: Entry[] = [];
    for (const it of items) {
      entries.push(...(await perItem([{ uuid, id: it.id }], async () => {
        const inst = await updateOne(user(c), { uuid }, it);
        return { status: 'success', uuid: inst.uuid, name: inst.name, ...(it.id !== undefined ? { id: it.id } : {}) };
      })));
    }
    return reply(c, entries);
  });

  // --- delete -------------------------------------------------------------
  const deleteOne = async (u: User, ref: Ref): Promise<Entry> => {
    const r = await svc.remove(u, toRef(ref));
    return { status: 'success', uuid: r.instance.uuid, name: r.instance.name, previous_state: r.previousState };
  };
  app.delete('/', async (c) => {
    const { items } = oneOrMany(deleteItemSchema, await requireJson(c));
    return reply(c, await perItem(items, (it) => deleteOne(user(c), it)));
  });
  app.delete('/:uuid', async (c) => {
    const uuid = pathUuid(c);
    parseWith(deleteByUuidSchema, (await readJson(c)) ?? {});
    return reply(c, await perItem([{ uuid }], () => deleteOne(user(c), { uuid })));
  });

  // --- get by uuid (registered last so /wait, /log … win) -------------------
  app.get('/:uuid', async (c) => {
    const uuid = pathUuid(c);
    const details = parseBool(c.req.query('details'), true);
    return reply(c, await perItem([{ uuid }], async () => wire(await svc.find(user(c), { uuid }), details)));
  });

  return app;
}

