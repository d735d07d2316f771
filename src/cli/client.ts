import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HangarError, type ErrorKind } from '../lib/errors.js';
import { hangarHome, readSettings } from '../lib/settings.js';
import { readConfig } from './config.js';

/** `--metro` / `--token` as given on the command line. */
export interface Globals {
  metro?: string;
  token?: string;
}

export interface Target {
  baseUrl: string;
  token: string | undefined;
  /** Where the token came from, for error messages. */
  tokenFrom: 'flag' | 'env' | 'config' | 'local node' | 'stdin' | 'none';
}

const METRO_ENV = ['UKC_METRO', 'UNIKRAFTCLOUD_METRO', 'KRAFTCLOUD_METRO'];
const TOKEN_ENV = ['UKC_TOKEN', 'UNIKRAFTCLOUD_TOKEN', 'KRAFTCLOUD_TOKEN'];
const firstEnv = (env: NodeJS.ProcessEnv, names: string[]): string | undefined => names.map((n) => env[n]).find((v) => v !== undefined && v !== '');

/** The node this machine runs by default (`HANGAR_LISTEN`, else 127.0.0.1:8080). */
export function localMetro(env: NodeJS.ProcessEnv): string {
  const listen = (readSettings(env).HANGAR_LISTEN ?? '127.0.0.1:8080').replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
  return `http://${listen}`;
}

/**
 * A metro is a node's URL (`http://10.0.0.5:8080`, a trailing `/v1` is
 * dropped), a bare `host:port` (http), or `local` for this machine's node.
 */
export function normalizeMetro(v: string, env: NodeJS.ProcessEnv): string {
  const s = v.trim();
  if (s === 'local') return localMetro(env);
  if (/^https?:\/\//.test(s)) return s.replace(/\/+$/, '').replace(/\/v1$/, '');
  if (/^[\w.-]+:\d+$|^\[[0-9a-f:]+\]:\d+$/i.test(s)) return `http://${s}`;
  throw new HangarError('invalid_argument', `--metro ${v}: expected a node URL like http://127.0.0.1:8080 (hangar metros are nodes, not region codes)`, { field: '--metro' });
}

/** The node's URL: `--metro`, then `UKC_METRO`, then the stored config's, then this machine's node. */
export function resolveMetro(g: Globals, env: NodeJS.ProcessEnv, stored: string | undefined = readConfig(env).metro): string {
  const raw = g.metro ?? firstEnv(env, METRO_ENV) ?? stored;
  return raw !== undefined ? normalizeMetro(raw, env) : localMetro(env);
}

const isLoopback = (url: string): boolean => /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(url);

/**
 * Where the node is and who we are, first found wins: flags, then
 * `UKC_METRO`/`UKC_TOKEN`, then the config `hangar login` wrote, then this
 * machine's node (`$HANGAR_HOME/token`). A stored token is only sent to the
 * metro it was stored for.
 */
export function resolveTarget(g: Globals, env: NodeJS.ProcessEnv): Target {
  const cfg = readConfig(env);
  const baseUrl = resolveMetro(g, env, cfg.metro);
  if (g.token) return { baseUrl, token: g.token, tokenFrom: 'flag' };
  const envToken = firstEnv(env, TOKEN_ENV);
  if (envToken) return { baseUrl, token: envToken, tokenFrom: 'env' };
  if (cfg.token && cfg.metro !== undefined && normalizeMetro(cfg.metro, env) === baseUrl) return { baseUrl, token: cfg.token, tokenFrom: 'config' };
  if (isLoopback(baseUrl)) {
    try {
      const token = readFileSync(join(hangarHome(env), 'token'), 'utf8').trim();
      if (token) return { baseUrl, token, tokenFrom: 'local node' };
    } catch {
      // no local node state here
    }
  }
  return { baseUrl, token: undefined, tokenFrom: 'none' };
}

/** An error the node answered with; `http` is its HTTP status (200 for in-band entry errors). */
export class NodeError extends HangarError {
  constructor(kind: ErrorKind, message: string, readonly http: number, readonly endpoint: string) {
    super(kind, message);
  }
}

const KIND_BY_HTTP: Record<number, ErrorKind> = { 400: 'invalid_argument', 401: 'unauthenticated', 403: 'permission_denied', 404: 'not_found', 408: 'timeout', 409: 'already_exists', 429: 'resource_exhausted' };
const KIND_BY_CODE: Record<number, ErrorKind> = { 3: 'invalid_argument', 4: 'timeout', 6: 'already_exists', 7: 'permission_denied', 8: 'not_found', 9: 'failed_precondition', 11: 'resource_exhausted', 13: 'internal', 14: 'unavailable', 16: 'unauthenticated' };

export type Entry = Record<string, unknown>;

export interface Reply {
  /** `success`, `partial_success` (some entries failed) or `error`. */
  status: string;
  entries: Entry[];
}

export interface CallOptions {
  /** Bound on the whole call (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export const isFailed = (e: Entry): boolean => e['status'] === 'error';
export const entryLabel = (e: Entry): string => String(e['name'] ?? e['uuid'] ?? '?');

/** A failed entry's message, prefixed with the instance it is about unless it already names it. */
export function entryMessage(e: Entry): string {
  const label = entryLabel(e);
  const msg = String(e['message'] ?? 'failed');
  return msg.includes(label) ? msg : `${label}: ${msg}`;
}

/** The node's `/v1` API, over HTTP only. */
export class NodeApi {
  constructor(readonly target: Target) {}

  get baseUrl(): string {
    return this.target.baseUrl;
  }

  /**
   * One call. Transport failures, non-2xx answers and an envelope whose
   * entries all failed throw a NodeError that says what to do; a partial
   * success returns, and the caller reports the failed entries.
   */
  async call(method: string, path: string, body?: unknown, o: CallOptions = {}): Promise<Reply> {
    const { baseUrl, token } = this.target;
    if (!token) throw new HangarError('unauthenticated', `no token for the node at ${baseUrl}: run \`hangar login\`, or set --token/UKC_TOKEN`);
    const endpoint = `${method} ${path.replace(/\?.*$/, '')}`;
    const timeout = AbortSignal.timeout(o.timeoutMs ?? 30_000);
    let res: Response;
    try {
      res = await fetch(`${baseUrl}${path}`, {
        method,
        signal: o.signal ? AbortSignal.any([timeout, o.signal]) : timeout,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      if (o.signal?.aborted) throw new HangarError('timeout', 'interrupted');
      if (timeout.aborted) throw new HangarError('timeout', `the node at ${baseUrl} did not answer ${endpoint} within ${Math.round((o.timeoutMs ?? 30_000) / 1000)} s; check \`hangar node\`'s log`);
      throw new HangarError('unavailable', `cannot reach the node at ${baseUrl} — is \`hangar node\` running? (set --metro/UKC_METRO)`, { cause: e });
    }
    const text = await res.text().catch(() => '');
    let env: { status?: string; message?: string; data?: Record<string, Entry[]> } = {};
    try {
      env = JSON.parse(text) as typeof env;
    } catch {
      // not an envelope: a proxy or something else listens there
    }
    const entries = Object.values(env.data ?? {})[0] ?? [];
    const failed = entries.find(isFailed);
    if (res.status === 401) {
      throw new NodeError('unauthenticated', `the node at ${baseUrl} refused the token from ${this.target.tokenFrom} (401 ${env.message ?? 'unauthorized'}); run \`hangar login\` or set --token/UKC_TOKEN`, 401, endpoint);
    }
    if (!res.ok) {
      const kind = KIND_BY_HTTP[res.status] ?? (res.status >= 500 ? 'unavailable' : 'invalid_argument');
      const why = String(failed?.['message'] ?? env.message ?? (env.status === undefined ? `not a hangar node (HTTP ${res.status}: ${text.slice(0, 80).trim()})` : `HTTP ${res.status}`));
      throw new NodeError(kind, why, res.status, endpoint);
    }
    if (env.status === undefined) throw new NodeError('unavailable', `the answer from ${baseUrl} to ${endpoint} is not a UKC envelope; is --metro a hangar node?`, res.status, endpoint);
    if (env.status === 'error') {
      const code = typeof failed?.['error'] === 'number' ? failed['error'] : 13;
      throw new NodeError(KIND_BY_CODE[code] ?? 'internal', failed ? entryMessage(failed) : env.message ?? 'failed', res.status, endpoint);
    }
    return { status: env.status, entries };
  }
}
