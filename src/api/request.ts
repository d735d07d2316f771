import { HangarError, invalid } from '../lib/errors.js';
import { isUuid } from '../lib/ids.js';
import type { Ctx } from './context.js';
import { errorEntry, type Entry } from './envelope.js';
import { toHangarError } from './errors.js';
import { MAX_BODY_BYTES as MAX_BODY } from './server.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lossy = new TextDecoder('utf-8');

/** Paths of the strings that hold U+FFFD: where a lossy decode replaced bytes. */
function replacedFields(v: unknown, path: string, out: string[]): string[] {
  if (typeof v === 'string' && v.includes('\uFFFD')) out.push(path || 'body');
  else if (Array.isArray(v)) v.forEach((x, i) => replacedFields(x, `${path}[${i}]`, out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) replacedFields(x, path ? `${path}.${k}` : k, out);
  return out;
}

/**
 * Bytes that are not UTF-8 are refused, not replaced: an arg or env value
 * silently changed would run something else than what was asked for.
 */
function decode(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    let field = 'body';
    try {
      field = replacedFields(JSON.parse(lossy.decode(bytes)) as unknown, '', [])[0] ?? 'body';
    } catch {
      // not JSON either: the body as a whole is named
    }
    throw new HangarError('invalid_argument', `${field}: not valid UTF-8`, { field });
  }
}

/**
 * The JSON body, or undefined when there is none. GET bodies (sent by go-sdk
 * and kraftkit) are read by the server before Hono sees the request, since
 * fetch's Request cannot carry a body on GET.
 */
export async function readJson(c: Ctx): Promise<unknown> {
  let bytes: Uint8Array | undefined;
  if (c.req.method === 'GET' || c.req.method === 'HEAD') bytes = c.env?.incoming?.hangarGetBody;
  else bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes === undefined) return undefined;
  // The server refuses larger bodies before reading them; this guards callers that bypass it (app.request).
  if (bytes.byteLength > MAX_BODY) throw new HangarError('too_large', 'body: larger than 8 MiB', { field: 'body' });
  const text = decode(bytes);
  if (text.trim() === '') return undefined;
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

/** Items of one bulk request worked on at once: sandbox work spawns processes, and 2 cores are shared. */
export const BULK_CONCURRENCY = 4;

/** Lets timers and sockets run: awaits of the synchronous store settle as microtasks, which never yield. */
export const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Runs `fn` for each item, at most `concurrency` at a time and yielding to the
 * event loop between items, so a 1000-item bulk request does not starve every
 * other request; a failure becomes that item's in-band error entry (not-found
 * is `error: 8`) instead of failing the whole request. Entries keep the order
 * of the items. Waits pass `Infinity`: they hold nothing while they wait.
 */
export async function perItem<T extends RefLike>(items: T[], fn: (item: T) => Promise<Entry>, o: { concurrency?: number } = {}): Promise<Entry[]> {
  const out: Entry[] = new Array<Entry>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      const item = items[i]!;
      try {
        out[i] = await fn(item);
      } catch (e) {
        out[i] = errorEntry(toHangarError(e), { uuid: item.uuid, name: item.name });
      }
      if (items.length > 1) await yieldToLoop();
    }
  };
  const workers = Math.max(1, Math.min(o.concurrency ?? BULK_CONCURRENCY, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return out;
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
