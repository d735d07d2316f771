import { Hono } from 'hono';
import type { HeldImage, ImageCatalog, ImageFilter, PinnedImage } from '../../core/ports/images.js';
import type { User } from '../../core/ports/store.js';
import { HangarError } from '../../lib/errors.js';
import type { ApiDeps, AppEnv, Ctx } from '../context.js';
import { entriesEnvelope, errorEntry, type Entry } from '../envelope.js';
import { toHangarError } from '../errors.js';
import { parseBool, queryLists, readJson, requireJson } from '../request.js';
import { oneOrMany, parseWith } from '../schemas/common.js';
import {
  imageFilterSchema,
  imageListQuerySchema,
  pinItemSchema,
  registryDeleteItemSchema,
  registryListQuerySchema,
  unpinItemSchema,
  type PinItem,
} from '../schemas/images.js';

const KEY = 'images';

/** `host:port` clients reach this node at (the Host header they used, else the node's base URL). */
function nodeHost(c: Ctx, deps: ApiDeps): string {
  const h = c.req.header('host');
  if (h && /^[\w.-]+(:\d+)?$|^\[[0-9a-f:.]+\](:\d+)?$/i.test(h)) return h;
  return new URL(deps.baseUrl).host;
}

/** `KEY=VALUE` strings → an object (a later duplicate wins, as in a shell). */
function envObject(env: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of env) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** HeldImage → the UKC `Image` wire object (plus hangar's `kind` and `platform`). */
export function imageToWire(img: HeldImage, host: string, store = false): Entry {
  const first = img.tags[0];
  const e: Entry = {
    status: 'success',
    url: `${host}/${img.repo}${first !== undefined ? `:${first}` : ''}@${img.digest}`,
    digest: img.digest,
    created_at: img.createdAt.toISOString(),
    initrd_or_rom: img.initrdOrRom,
    size_in_bytes: img.sizeBytes,
    args: [...img.config.entrypoint, ...img.config.cmd],
    env: envObject(img.config.env),
    tags: img.tags.map((t) => `${img.repo}:${t}`),
    users: img.users,
    kind: img.kind,
  };
  if (img.platform !== undefined) e['platform'] = img.platform;
  if (img.owner !== undefined) e['owner'] = img.owner;
  if (store) e['persistent'] = img.pinned;
  const u = img.unikernel;
  if (u) {
    e['unikernel'] = {
      ...(u.kernel ? { kernel: u.kernel } : {}),
      ...(u.initrd ? { initrd: u.initrd } : {}),
      roms: u.roms,
      ...(u.osVersion !== undefined ? { os_version: u.osVersion } : {}),
      os_features: u.osFeatures,
      ...(u.urunc ? { urunc: u.urunc } : {}),
    };
  }
  return e;
}

function pinToWire(p: PinnedImage): Entry {
  const e: Entry = { status: 'success', uuid: p.uuid, name: p.url, url: p.url, created_at: p.createdAt, state: p.state, persistent: true, tags: p.tags.map((t) => `${p.repo}:${t}`) };
  if (p.digest !== undefined) e['digest'] = p.digest;
  if (p.expiresAt !== undefined) e['autokill'] = { expires_at: p.expiresAt };
  return e;
}

const unavailable = (): HangarError => new HangarError('unavailable', 'this node has no image registry');

/**
 * Images: `GET /v1/images`, `GET /v1/image-store`, pin/unpin (`POST`/`DELETE /v1/images`),
 * and the control-plane view of the node's registry (`GET`/`DELETE /v1/registry/images`).
 */
export function imageRoutes(deps: ApiDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const catalog = (): ImageCatalog => {
    if (!deps.images) throw unavailable();
    return deps.images;
  };
  const viewer = (u: User): { uuid: string; admin: boolean } => ({ uuid: u.uuid, admin: u.admin });

  /** Filters from the query (js-sdk) and a GET body (go-sdk); none = everything. */
  const filtersOf = async (c: Ctx): Promise<ImageFilter[]> => {
    const q = parseWith(imageListQuerySchema, queryLists(c, ['digest', 'tag']));
    const filters: ImageFilter[] = [];
    for (const d of q.digest ?? []) filters.push({ digest: d });
    for (const t of q.tag ?? []) filters.push({ tag: t });
    const body = await readJson(c);
    if (body !== undefined) {
      const arr = Array.isArray(body) ? body : [body];
      arr.forEach((b, i) => filters.push(parseWith(imageFilterSchema, b, `[${i}]`)));
    }
    return filters;
  };

  const listing = (store: boolean) => async (c: Ctx) => {
    const cat = catalog();
    const host = nodeHost(c, deps);
    const me = viewer(c.get('user'));
    const filters = await filtersOf(c);
    const entries: Entry[] = [];
    if (filters.length === 0) {
      for (const img of await cat.list({}, me)) entries.push(imageToWire(img, host, store));
    } else {
      const seen = new Set<string>();
      for (const f of filters) {
        try {
          const hits = await cat.list(f, me);
          if (hits.length === 0) {
            const what = f.digest !== undefined ? `digest '${f.digest}'` : `tag '${f.tag ?? ''}'`;
            throw new HangarError('not_found', `No image with ${what}`);
          }
          for (const img of hits) {
            const key = `${img.repo}@${img.digest}`;
            if (seen.has(key)) continue;
            seen.add(key);
            entries.push(imageToWire(img, host, store));
          }
        } catch (e) {
          entries.push(errorEntry(toHangarError(e)));
        }
      }
    }
    return c.json(entriesEnvelope(KEY, entries, c.get('startedUs')));
  };

  app.get('/images', listing(false));
  app.get('/image-store', listing(true));

  // Legacy forms (go-sdk before v1): GET /v1/images/digest/{digest}, GET /v1/images/tag/{tag}.
  app.get('/images/digest/:digest', async (c) => {
    const f = parseWith(imageFilterSchema, { digest: c.req.param('digest') });
    const hits = await catalog().list(f, viewer(c.get('user')));
    if (hits.length === 0) throw new HangarError('not_found', `No image with digest '${f.digest ?? ''}'`);
    return c.json(entriesEnvelope(KEY, hits.map((i) => imageToWire(i, nodeHost(c, deps))), c.get('startedUs')));
  });
  app.get('/images/tag/:tag{.+}', async (c) => {
    const f = parseWith(imageFilterSchema, { tag: decodeURIComponent(c.req.param('tag')) });
    const hits = await catalog().list(f, viewer(c.get('user')));
    if (hits.length === 0) throw new HangarError('not_found', `No image with tag '${f.tag ?? ''}'`);
    return c.json(entriesEnvelope(KEY, hits.map((i) => imageToWire(i, nodeHost(c, deps))), c.get('startedUs')));
  });

  // Pin: pull if needed and keep.
  app.post('/images', async (c) => {
    const cat = catalog();
    const { items } = oneOrMany(pinItemSchema, await requireJson(c));
    const me = c.get('user');
    const entries = await Promise.all(
      items.map(async (it: PinItem): Promise<Entry> => {
        try {
          const source = {
            ...(it.pull_policy !== undefined ? { pullPolicy: it.pull_policy } : {}),
            ...(it.credentials !== undefined ? { credentials: it.credentials } : {}),
            ...(it.headers !== undefined ? { headers: it.headers } : {}),
            user: viewer(me),
          };
          const pin = await cat.pin(me.uuid, { url: it.url, source, timeoutS: it.timeout_s, ...(it.autokill ? { autokillMs: it.autokill.time_ms } : {}) });
          return pinToWire(pin);
        } catch (e) {
          const err = toHangarError(e);
          return { ...errorEntry(err, { name: it.url }), url: it.url };
        }
      }),
    );
    return c.json(entriesEnvelope(KEY, entries, c.get('startedUs')));
  });

  // Unpin (the image stays until removed).
  app.delete('/images', async (c) => {
    const cat = catalog();
    const { items } = oneOrMany(unpinItemSchema, await requireJson(c));
    const me = viewer(c.get('user'));
    const entries: Entry[] = [];
    for (const it of items) {
      try {
        const p = await cat.unpin(it.uuid.toLowerCase(), me);
        entries.push({ status: 'success', uuid: p.uuid, name: p.url });
      } catch (e) {
        entries.push(errorEntry(toHangarError(e), { uuid: it.uuid }));
      }
    }
    return c.json(entriesEnvelope(KEY, entries, c.get('startedUs')));
  });

  // The node's registry as a control plane lists it: [{name, tags: [{name, digest, size, push_time}]}].
  app.get('/registry/images', async (c) => {
    const q = parseWith(registryListQuerySchema, queryLists(c, ['namespace']));
    const details = parseBool(q.details, true);
    const namespaces = q.namespace ?? [];
    const repos = (await catalog().repositories(viewer(c.get('user')))).filter((r) => namespaces.length === 0 || namespaces.some((n) => r.name === n || r.name.startsWith(`${n.replace(/\/+$/, '')}/`)));
    const entries: Entry[] = repos.map((r) => ({
      status: 'success',
      name: r.name,
      ...(details ? { tags: r.tags.map((t) => ({ name: t.name, digest: t.digest, size: t.size, push_time: t.pushTime })) } : {}),
    }));
    return c.json(entriesEnvelope(KEY, entries, c.get('startedUs')));
  });

  // Image deletion: refused while an instance uses the image (or it is pinned).
  app.delete('/registry/images', async (c) => {
    const cat = catalog();
    const { items } = oneOrMany(registryDeleteItemSchema, await requireJson(c));
    const me = c.get('user');
    const entries: Entry[] = [];
    for (const it of items) {
      const ref = `${it.name}${it.digest !== undefined ? `@${it.digest}` : `:${it.tag ?? 'latest'}`}`;
      try {
        const removed = await cat.remove(ref, viewer(me));
        const r = removed[0];
        entries.push({ status: 'success', name: it.name, ...(it.tag !== undefined || it.digest === undefined ? { tag: it.tag ?? 'latest' } : {}), ...(r ? { digest: r.digest } : {}) });
      } catch (e) {
        entries.push({ ...errorEntry(toHangarError(e), { name: it.name }), ...(it.tag !== undefined ? { tag: it.tag } : {}), ...(it.digest !== undefined ? { digest: it.digest } : {}) });
      }
    }
    return c.json(entriesEnvelope(KEY, entries, c.get('startedUs')));
  });

  return app;
}
