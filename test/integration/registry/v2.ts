/** Helpers for the registry tests: a raw /v2/ client and small images built in memory. */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { MT } from '../../../src/oci/media-types.js';
import { buildTar } from '../../../src/image/tar-writer.js';

const execFileP = promisify(execFile);

export const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface V2Response {
  status: number;
  headers: Headers;
  body: Buffer;
  /** Parsed JSON body, when it is JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface V2Options {
  body?: Buffer | string;
  headers?: Record<string, string>;
  /** Authorization header value; default Bearer <token>; null sends none. */
  auth?: string | null;
}

/** A raw client for one node's /v2/ API. */
export function v2Client(url: string, token: string) {
  return async (method: string, path: string, o: V2Options = {}): Promise<V2Response> => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const auth = o.auth === undefined ? `Bearer ${token}` : o.auth;
    if (auth !== null) headers['authorization'] = auth;
    const res = await fetch(`${url}${path}`, { method, headers, ...(o.body !== undefined ? { body: typeof o.body === 'string' ? o.body : new Uint8Array(o.body) } : {}), redirect: 'manual', signal: AbortSignal.timeout(30_000) });
    const body = Buffer.from(await res.arrayBuffer());
    let json: unknown;
    if ((res.headers.get('content-type') ?? '').includes('json') && body.length > 0) {
      try {
        json = JSON.parse(body.toString());
      } catch {
        json = undefined;
      }
    }
    return { status: res.status, headers: res.headers, body, json };
  };
}

export type V2 = ReturnType<typeof v2Client>;

/** Monolithic push of one blob; asserts 201. */
export async function pushBlob(v2: V2, repo: string, data: Buffer): Promise<string> {
  const digest = sha(data);
  const r = await v2('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: data, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(r.status, 201, r.body.toString());
  return digest;
}

export async function pushManifest(v2: V2, repo: string, ref: string, manifest: object | Buffer, mediaType: string = MT.ociManifest): Promise<V2Response> {
  const body = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
  return v2('PUT', `/v2/${repo}/manifests/${ref}`, { body, headers: { 'content-type': mediaType } });
}

export interface SmallImage {
  manifest: Record<string, unknown>;
  manifestBytes: Buffer;
  digest: string;
  blobs: Buffer[];
}

/** An image with one uncompressed tar layer holding `files`, pushed blob by blob (manifest not pushed). */
export async function pushSmallImage(v2: V2, repo: string, files: Record<string, string>, extra: Record<string, unknown> = {}): Promise<SmallImage> {
  const layer = buildTar(Object.entries(files).map(([path, data]) => ({ path, type: 'file' as const, data: Buffer.from(data) })));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/true'] }, rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  await pushBlob(v2, repo, layer);
  await pushBlob(v2, repo, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: sha(config), size: config.length },
    layers: [{ mediaType: MT.ociLayer, digest: sha(layer), size: layer.length }],
    ...extra,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { manifest, manifestBytes, digest: sha(manifestBytes), blobs: [layer, config] };
}

export const hasCmd = (cmd: string): boolean => spawnSync(cmd, ['--version']).status === 0;

/** Runs a command without blocking the event loop (the node under test runs in this process). */
export async function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (e) {
    const x = e as { code?: unknown; signal?: unknown; stderr?: string; stdout?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed (${String(x.code ?? x.signal)}): ${x.stderr || x.stdout || String(e)}`);
  }
}
