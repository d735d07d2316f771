import { HangarError, invalid } from '../lib/errors.js';
import { isUuid } from '../lib/ids.js';
import type { Ctx } from './context.js';
import { errorEntry, type Entry } from './envelope.js';
import { toHangarError } from './errors.js';

const MAX_BODY = 8 * 1024 * 1024;

/**
 * The JSON body, or undefined when there is none. GET bodies (sent by go-sdk
 * and kraftkit) are read by the server before Hono sees the request, since
 * fetch's Request cannot carry a body on GET.
 */
export async function readJson(c: Ctx): Promise<unknown> {
  let text: string | undefined;
  if (c.req.method === 'GET' || c.req.method === 'HEAD') text = c.env?.incoming?.hangarGetBody;
  else text = await c.req.text();
  if (text === undefined || text.trim() === '') return undefined;
  if (text.length > MAX_BODY) throw new HangarError('invalid_argument', 'body: larger than 8 MiB', { field: 'body' });
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HangarError('invalid_argument', 'body: not valid JSON', { field: 'body' });
  }
}

export async function requireJson(c: Ctx): Promise<unknown> {
  const body = await readJson(c);
  if (body === undefined) throw invalid('body', 'a JSON body is required');
  return body;
}

/** Query parameters as the js-sdk sends them: repeated keys become arrays. */
export function queryLists(c: Ctx, arrays: readonly string[]): Record<string, string | string[]> {
  const all = c.req.queries();
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(all)) {
    const vals = v.flatMap((x) => (arrays.includes(k) && x.includes(',') ? x.split(',') : [x]));
    out[k] = arrays.includes(k) ? vals : (vals[vals.length - 1] ?? '');
  }
  return out;
}

export interface RefLike {
  uuid?: string | undefined;
  name?: string | undefined;
}

/**
 * Runs `fn` for each item; a failure becomes that item's in-band error entry
 * (not-found is `error: 8`) instead of failing the whole request.
 */
export async function perItem<T extends RefLike>(items: T[], fn: (item: T) => Promise<Entry>): Promise<Entry[]> {
  return Promise.all(
    items.map(async (item) => {
      try {
        return await fn(item);
      } catch (e) {
        return errorEntry(toHangarError(e), { uuid: item.uuid, name: item.name });
      }
    }),
  );
}

/** A path `:uuid` must be a UUID; a name there gets UKC's "Invalid uuid" error. */
export function pathUuid(c: Ctx): string {
  const id = c.req.param('uuid') ?? '';
  if (!isUuid(id)) {
    throw new HangarError('invalid_argument', `Invalid uuid '${id}'`, { field: 'uuid' });
  }
  return id.toLowerCase();
}

export function parseBool(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  return v === 'true' || v === '1';
}
