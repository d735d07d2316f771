/**
 * Wire helpers of the /v2/ API: spec error bodies, streamed request and
 * response bodies (straight on node:http's objects when the server is
 * @hono/node-server, so a layer is never buffered), header parsing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import { regError, toRegistryError } from '../errors.js';
import type { RegistryUser } from '../ports.js';

export interface RegistryEnv {
  Bindings: { incoming?: IncomingMessage; outgoing?: ServerResponse };
  Variables: { registryUser: RegistryUser };
}

export type RCtx = Context<RegistryEnv>;

export const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const;

export function errorResponse(c: RCtx, e: unknown, extraHeaders: Record<string, string> = {}): Response {
  const err = toRegistryError(e);
  const headers: Record<string, string> = { ...API_VERSION_HEADER, 'Content-Type': 'application/json', ...err.headers, ...extraHeaders };
  // Refused part-way through a body (quota, size): the rest is never read, so the connection cannot carry another
  // request; saying so keeps a client from reusing it (its next request waited on the unread bytes until a reset).
  const inc = c.env?.incoming;
  if (inc && typeof inc.on === 'function' && !inc.readableEnded && hasBody(c)) headers['Connection'] = 'close';
  const body = JSON.stringify({ errors: [{ code: err.code, message: err.message, detail: err.detail ?? null }] });
  if (c.req.method === 'HEAD') return new Response(null, { status: err.status, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } });
  return new Response(body, { status: err.status, headers });
}

export function empty(status: number, headers: Record<string, string> = {}): Response {
  return new Response(null, { status, headers: { ...API_VERSION_HEADER, 'Content-Length': '0', ...headers } });
}

export function json(c: RCtx, value: unknown, headers: Record<string, string> = {}, contentType = 'application/json'): Response {
  const body = JSON.stringify(value);
  const h = { ...API_VERSION_HEADER, 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)), ...headers };
  return new Response(c.req.method === 'HEAD' ? null : body, { status: 200, headers: h });
}

/** Streams `stream` as the response body; on node:http it is piped straight into the socket. */
export function streamResponse(c: RCtx, status: number, headers: Record<string, string>, stream: Readable): Response {
  const out = c.env?.outgoing;
  if (out && typeof out.writeHead === 'function') {
    out.writeHead(status, { ...API_VERSION_HEADER, ...headers });
    pipeline(stream, out).catch(() => {
      stream.destroy();
      out.destroy();
    });
    return RESPONSE_ALREADY_SENT;
  }
  return new Response(Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>, { status, headers: { ...API_VERSION_HEADER, ...headers } });
}

/** The request body as an async iterable, read straight from node:http when possible. */
export function requestBody(c: RCtx): AsyncIterable<Uint8Array> {
  const inc = c.env?.incoming;
  if (inc && typeof inc.on === 'function' && !inc.readableEnded) return inc as AsyncIterable<Uint8Array>;
  const b = c.req.raw.body;
  return (b ?? Readable.from([])) as AsyncIterable<Uint8Array>;
}

export function hasBody(c: RCtx): boolean {
  const len = c.req.header('content-length');
  if (len !== undefined) return Number(len) > 0;
  return c.req.header('transfer-encoding') !== undefined;
}

/** Reads a whole (small) body, refusing more than `max` bytes. */
export async function readSmallBody(c: RCtx, max: number, tooLarge: () => Error): Promise<Buffer> {
  const len = c.req.header('content-length');
  if (len !== undefined && Number(len) > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of requestBody(c)) {
    n += chunk.byteLength;
    if (n > max) throw tooLarge();
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks);
}

/** `Content-Range: <start>-<end>` (a `bytes ` prefix and a `/<total>` suffix are tolerated). */
export function parseContentRange(v: string | undefined): { start: number; end: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d+|\*))?\s*$/.exec(v);
  if (!m || Number(m[2]) < Number(m[1])) {
    throw regError('BLOB_UPLOAD_INVALID', `malformed Content-Range '${v.slice(0, 60)}' (expected <start>-<end>)`, { status: 416 });
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

/**
 * A single `Range: bytes=a-b` (or `a-`, or `-suffix`) against a blob of `size`.
 * Undefined means "send everything" (no header, or several ranges); 'unsatisfiable' → 416.
 */
export function parseRange(v: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*bytes=(\d*)-(\d*)\s*$/.exec(v);
  if (!m) return v.includes(',') ? undefined : 'unsatisfiable';
  const [a, b] = [m[1]!, m[2]!];
  if (a === '' && b === '') return 'unsatisfiable';
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** `n` and `last` of a paged list; a bad `n` is refused. */
export function pageParams(c: RCtx): { n: number | undefined; last: string | undefined } {
  const nRaw = c.req.query('n');
  let n: number | undefined;
  if (nRaw !== undefined && nRaw !== '') {
    if (!/^\d{1,9}$/.test(nRaw)) throw regError('UNSUPPORTED', `n must be a non-negative integer, got '${nRaw.slice(0, 20)}'`, { status: 400 });
    n = Number(nRaw);
  }
  const last = c.req.query('last');
  return { n, last: last === '' ? undefined : last };
}

/** One page of a sorted list, with the `Link` header of the next one when more remain. */
export function page(items: string[], p: { n: number | undefined; last: string | undefined }, path: string): { items: string[]; headers: Record<string, string> } {
  const after = p.last === undefined ? items : items.filter((x) => x > p.last!);
  if (p.n === undefined || after.length <= p.n) return { items: p.n === 0 ? [] : after, headers: {} };
  const out = after.slice(0, p.n);
  if (out.length === 0) return { items: out, headers: {} };
  const next = `${path}?n=${p.n}&last=${encodeURIComponent(out[out.length - 1]!)}`;
  return { items: out, headers: { Link: `<${next}>; rel="next"` } };
}
