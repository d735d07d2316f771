import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { HangarError } from '../lib/errors.js';

export interface ClientOptions {
  metro?: string;
  token?: string;
}

/** Where the node is and who we are: flags, then UKC_METRO/UKC_TOKEN, then the local node's defaults. */
export function resolveClient(o: ClientOptions): { baseUrl: string; token: string } {
  const baseUrl = (o.metro ?? process.env['UKC_METRO'] ?? `http://${process.env['HANGAR_LISTEN'] ?? '127.0.0.1:8080'}`).replace(/\/+$/, '').replace(/\/v1$/, '');
  let token = o.token ?? process.env['UKC_TOKEN'];
  if (!token) {
    const file = join(process.env['HANGAR_HOME'] ?? join(homedir(), '.hangar'), 'token');
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch {
      throw new HangarError('unauthenticated', `no token: set UKC_TOKEN or pass --token (a local node keeps its admin token in ${file})`);
    }
  }
  return { baseUrl, token };
}

export interface ApiEnvelope {
  status: string;
  message?: string;
  data?: Record<string, Array<Record<string, unknown>>>;
}

/** One API call; a failed envelope or failed entry becomes an error that says what the node said. */
export async function api(o: ClientOptions, method: string, path: string, body?: unknown): Promise<Array<Record<string, unknown>>> {
  const { baseUrl, token } = resolveClient(o);
  let res: Response;
  try {
    res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (e) {
    throw new HangarError('unavailable', `cannot reach the node at ${baseUrl} (${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)}); is \`hangar node\` running?`);
  }
  const env = (await res.json().catch(() => ({ status: 'error', message: `HTTP ${res.status}` }))) as ApiEnvelope;
  const entries = Object.values(env.data ?? {})[0] ?? [];
  const failed = entries.find((e) => e['status'] === 'error');
  if (env.status === 'error' || !res.ok) throw new HangarError('unavailable', String(failed?.['message'] ?? env.message ?? `HTTP ${res.status}`));
  return entries;
}
