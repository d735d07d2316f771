/**
 * The OCI Distribution API (/v2/) over a DiskRegistry, as a Hono sub-app the
 * node mounts at `/v2` on its API address.
 *
 * Auth is the token flow docker-style clients expect: without valid
 * credentials every endpoint answers 401 with
 * `WWW-Authenticate: Bearer realm="<this node>/v2/token",service="hangar"`;
 * the realm hands a client that shows `Basic user:<node API token>` that very
 * token back as its bearer token. `Basic user:<token>` and `Bearer <token>`
 * (or kraftkit's `Bearer base64(user:token)`) are accepted on every request.
 */
import { Hono } from 'hono';
import { regError } from '../errors.js';
import { INDEX_TYPES, MT, STORABLE_MANIFEST_TYPES, bareMediaType } from '../../oci/media-types.js';
import { looksLikeDigest, repoNameProblem } from '../../oci/names.js';
import { checkDigest, checkRepoName, checkTag } from '../names.js';
import { parseManifest } from '../../oci/manifest.js';
import { OPEN_ACCESS, type RegistryAccess, type RegistryUser, type RemovalGuard } from '../ports.js';
import { deleteReference } from '../removal.js';
import type { DiskRegistry } from '../store.js';
import type { BodyMeter } from '../quota.js';
import { rangeHeader } from '../uploads.js';
import {
  API_VERSION_HEADER,
  empty,
  errorResponse,
  hasBody,
  json,
  page,
  pageParams,
  parseContentRange,
  parseRange,
  readSmallBody,
  requestBody,
  streamResponse,
  type RCtx,
  type RegistryEnv,
} from './wire.js';

export interface RegistryAuth {
  /** The user a node API token belongs to, or undefined when it is not a token of this node (async: the user store may be remote). */
  userForToken(token: string): Promise<RegistryUser | undefined> | RegistryUser | undefined;
}

export interface RegistryApiOptions {
  /** `service` of the auth challenge (default "hangar"). */
  service?: string;
  /** Asked before a DELETE takes a manifest or tag away (the node's image service); without it nothing is refused. */
  guard?: RemovalGuard;
  /** Who may read and write which repository (the node's image service); default: everyone everything. */
  access?: RegistryAccess;
  /** The node's registry quota: a meter per upload body, told each piece before it is accepted (a throw ends the upload). */
  quota?: { meter(user: RegistryUser): BodyMeter };
}

const R_UPLOADS = /^\/(.+)\/blobs\/uploads\/?$/;
const R_UPLOAD = /^\/(.+)\/blobs\/uploads\/([^/]+)$/;
const R_BLOB = /^\/(.+)\/blobs\/([^/]+)$/;
const R_MANIFEST = /^\/(.+)\/manifests\/([^/]+)$/;
const R_TAGS = /^\/(.+)\/tags\/list$/;
const R_REFERRERS = /^\/(.+)\/referrers\/([^/]+)$/;

const notAllowed = (method: string): Error => regError('UNSUPPORTED', `method ${method} is not allowed here`, { status: 405 });

function decodeBasic(v: string): { user: string; password: string } | undefined {
  const decoded = Buffer.from(v, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i > 0 ? { user: decoded.slice(0, i), password: decoded.slice(i + 1) } : undefined;
}

export function createRegistryApi(registry: DiskRegistry, auth: RegistryAuth, opts: RegistryApiOptions = {}): Hono<RegistryEnv> {
  const service = opts.service ?? 'hangar';
  const access = opts.access ?? OPEN_ACCESS;
  const app = new Hono<RegistryEnv>();

  /** A repository the user may not read answers as one that does not exist: a user learns nothing of another's. */
  const mustRead = async (c: RCtx, name: string): Promise<void> => {
    if (!(await access.canRead(c.get('registryUser'), name))) throw regError('NAME_UNKNOWN', `repository ${name} is not known`, { detail: { name } });
  };
  const mustWrite = async (c: RCtx, name: string): Promise<void> => {
    await mustRead(c, name);
    if (!(await access.canWrite(c.get('registryUser'), name))) throw regError('DENIED', `repository ${name} belongs to another user`, { detail: { name } });
  };

  /** The user the request's credentials name, or undefined. */
  const authenticate = async (c: RCtx): Promise<RegistryUser | undefined> => {
    const h = c.req.header('authorization') ?? '';
    const basic = /^Basic\s+(\S+)\s*$/i.exec(h);
    if (basic) {
      const creds = decodeBasic(basic[1]!);
      return creds ? auth.userForToken(creds.password) : undefined;
    }
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!bearer) return undefined;
    const user = await auth.userForToken(bearer[1]!);
    if (user) return user;
    const creds = decodeBasic(bearer[1]!);
    return creds ? auth.userForToken(creds.password) : undefined;
  };

  const challenge = (c: RCtx, scope?: string): Response => {
    const realm = `${new URL(c.req.url).origin}/v2/token`;
    const www = `Bearer realm="${realm}",service="${service}"${scope ? `,scope="${scope}"` : ''}`;
    const hasCreds = c.req.header('authorization') !== undefined;
    return errorResponse(c, regError('UNAUTHORIZED', hasCreds ? 'invalid credentials' : 'authentication required', { detail: null }), { 'WWW-Authenticate': www });
  };

  const token = async (c: RCtx): Promise<Response> => {
    const m = /^Basic\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
    const creds = m ? decodeBasic(m[1]!) : undefined;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const tok = creds?.password ?? bearer;
    if (tok === undefined || !(await auth.userForToken(tok))) {
      return errorResponse(c, regError('UNAUTHORIZED', tok === undefined ? 'credentials required: Basic <user>:<node API token>' : 'invalid credentials'), {
        'WWW-Authenticate': `Basic realm="${service}"`,
      });
    }
    return json(c, { token: tok, access_token: tok, expires_in: 3600, issued_at: new Date().toISOString() });
  };

  app.all('*', async (c) => {
    try {
      const full = c.req.path;
      const rest = full.startsWith('/v2') ? full.slice(3) : full;
      const method = c.req.method;
      if (rest === '/token') {
        if (method !== 'GET' && method !== 'HEAD') return errorResponse(c, regError('UNSUPPORTED', 'use GET /v2/token', { status: 404 }));
        return token(c);
      }
      const user = await authenticate(c);
      if (!user) {
        const name = /^\/(.+)\/(?:blobs|manifests|tags|referrers)\//.exec(rest)?.[1];
        const write = method !== 'GET' && method !== 'HEAD';
        return challenge(c, name && !repoNameProblem(name) ? `repository:${name}:${write ? 'pull,push' : 'pull'}` : undefined);
      }
      c.set('registryUser', user);
      if (rest === '' || rest === '/') {
        if (method !== 'GET' && method !== 'HEAD') throw notAllowed(method);
        return json(c, {});
      }
      if (rest === '/_catalog') {
        if (method !== 'GET') throw notAllowed(method);
        const repos: string[] = [];
        for (const r of await registry.repositories()) if (!repoNameProblem(r) && (await access.canRead(user, r))) repos.push(r);
        repos.sort();
        const p = page(repos, pageParams(c), '/v2/_catalog');
        return json(c, { repositories: p.items }, p.headers);
      }
      let m: RegExpExecArray | null;
      if ((m = R_UPLOADS.exec(rest))) return await startUpload(c, repoName(m[1]!));
      if ((m = R_UPLOAD.exec(rest))) return await upload(c, repoName(m[1]!), m[2]!);
      if ((m = R_BLOB.exec(rest))) return await blob(c, repoName(m[1]!), m[2]!);
      if ((m = R_MANIFEST.exec(rest))) return await manifest(c, repoName(m[1]!), m[2]!);
      if ((m = R_TAGS.exec(rest))) {
        if (method !== 'GET') throw notAllowed(method);
        const name = repoName(m[1]!);
        await mustRead(c, name);
        if (!registry.hasRepository(name)) throw regError('NAME_UNKNOWN', `repository ${name} is not known`, { detail: { name } });
        const p = page((await registry.tags(name)).map((t) => t.tag).sort(), pageParams(c), `/v2/${name}/tags/list`);
        return json(c, { name, tags: p.items }, p.headers);
      }
      if ((m = R_REFERRERS.exec(rest))) {
        if (method !== 'GET') throw notAllowed(method);
        const name = repoName(m[1]!);
        checkDigest(m[2]!);
        await mustRead(c, name);
        const artifactType = c.req.query('artifactType');
        let list = await registry.referrers(name, m[2]!);
        if (artifactType) list = list.filter((d) => d.artifactType === artifactType);
        return json(c, { schemaVersion: 2, mediaType: MT.ociIndex, manifests: list }, artifactType ? { 'OCI-Filters-Applied': 'artifactType' } : {}, MT.ociIndex);
      }
      return errorResponse(c, regError('UNSUPPORTED', `no such endpoint: ${method} ${full.slice(0, 200)}`, { status: 404 }));
    } catch (e) {
      return errorResponse(c, e);
    }
  });

  /** Runs `fn` over the request body, metered by the quota; the meter's reservation ends with the request. */
  const withBody = async <T>(c: RCtx, fn: (body: AsyncIterable<Uint8Array>) => Promise<T>): Promise<T> => {
    const src = requestBody(c);
    const meter = opts.quota?.meter(c.get('registryUser'));
    if (!meter) return fn(src);
    try {
      return await fn(
        (async function* () {
          for await (const chunk of src) {
            meter.take(chunk.length);
            yield chunk;
          }
        })(),
      );
    } finally {
      meter.done();
    }
  };

  const repoName = (raw: string): string => {
    checkRepoName(raw);
    return raw;
  };

  const uploadHeaders = (name: string, uuid: string, offset: number): Record<string, string> => ({
    Location: `/v2/${name}/blobs/uploads/${uuid}`,
    Range: rangeHeader(offset),
    'Docker-Upload-UUID': uuid,
  });
  const blobCreated = (name: string, digest: string): Response => empty(201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });

  async function startUpload(c: RCtx, name: string): Promise<Response> {
    if (c.req.method !== 'POST') throw notAllowed(c.req.method);
    const user = c.get('registryUser');
    await access.claim(user, name);
    const mount = c.req.query('mount');
    if (mount !== undefined) {
      checkDigest(mount);
      const from = c.req.query('from');
      // Only a blob the user can already read elsewhere is mounted: a digest alone proves nothing.
      const fromOk = from === undefined ? await access.canUseBlob(user, mount, name) : repoNameProblem(from) === undefined && (await access.canRead(user, from));
      if (fromOk && registry.mountBlob(name, mount, from)) return blobCreated(name, mount);
      // not mountable: fall back to a plain upload session (202)
    }
    const digest = c.req.query('digest');
    if (digest !== undefined) {
      checkDigest(digest);
      const len = c.req.header('content-length');
      const size = len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined;
      if (size !== undefined && size > registry.limits.maxBlobBytes) {
        throw regError('SIZE_INVALID', `blob of ${size} bytes is larger than the ${registry.limits.maxBlobBytes} bytes allowed`, { status: 413 });
      }
      const got = await withBody(c, (body) => registry.putBlob(body, { digest, ...(size !== undefined ? { size } : {}) }, { repo: name }));
      return blobCreated(name, got.digest);
    }
    const u = registry.startUpload(name);
    return empty(202, uploadHeaders(name, u.uuid, 0));
  }

  async function upload(c: RCtx, name: string, uuid: string): Promise<Response> {
    await mustWrite(c, name);
    switch (c.req.method) {
      case 'GET': {
        const u = registry.uploadStatus(name, uuid);
        return empty(204, uploadHeaders(name, uuid, u.offset));
      }
      case 'PATCH': {
        const range = parseContentRange(c.req.header('content-range'));
        const len = c.req.header('content-length');
        if (range && len !== undefined && Number(len) !== range.end - range.start + 1) {
          const u = registry.uploadStatus(name, uuid);
          throw regError('BLOB_UPLOAD_INVALID', `Content-Length ${len} does not match Content-Range ${range.start}-${range.end}`, { status: 416, headers: uploadHeaders(name, uuid, u.offset) });
        }
        const u = await withBody(c, (body) => registry.writeUpload(name, uuid, body, range));
        return empty(202, uploadHeaders(name, uuid, u.offset));
      }
      case 'PUT': {
        const digest = c.req.query('digest');
        if (digest === undefined) throw regError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
        const range = parseContentRange(c.req.header('content-range'));
        const got = hasBody(c) ? await withBody(c, (body) => registry.finishUpload(name, uuid, digest, body, range)) : await registry.finishUpload(name, uuid, digest, undefined, range);
        return blobCreated(name, got.digest);
      }
      case 'DELETE':
        await registry.cancelUpload(name, uuid);
        return empty(204);
      default:
        throw notAllowed(c.req.method);
    }
  }

  async function blob(c: RCtx, name: string, digest: string): Promise<Response> {
    const method = c.req.method;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') throw notAllowed(method);
    checkDigest(digest);
    if (method === 'DELETE') await mustWrite(c, name);
    else await mustRead(c, name);
    if (method === 'DELETE') {
      registry.unlinkBlob(name, digest);
      return empty(202);
    }
    const size = registry.blobSizeIn(name, digest);
    if (size === undefined) throw regError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${name}`, { detail: { digest } });
    const base = { 'Docker-Content-Digest': digest, 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ETag: `"${digest}"` };
    const range = parseRange(c.req.header('range'), size);
    if (range === 'unsatisfiable') {
      throw regError('BLOB_UNKNOWN', `range '${c.req.header('range')?.slice(0, 60)}' is outside the blob's ${size} bytes`, { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
    }
    if (method === 'HEAD') return empty(200, { ...base, 'Content-Length': String(size) });
    if (range) {
      return streamResponse(c, 206, { ...base, 'Content-Length': String(range.end - range.start + 1), 'Content-Range': `bytes ${range.start}-${range.end}/${size}` }, registry.openBlob(digest, range));
    }
    if (size === 0) return empty(200, base);
    return streamResponse(c, 200, { ...base, 'Content-Length': String(size) }, registry.openBlob(digest));
  }

  async function manifest(c: RCtx, name: string, reference: string): Promise<Response> {
    const method = c.req.method;
    if (looksLikeDigest(reference)) checkDigest(reference);
    else checkTag(reference);
    switch (method) {
      case 'GET':
      case 'HEAD': {
        await mustRead(c, name);
        const info = registry.manifestInfo(name, reference);
        if (!info) {
          if (!registry.hasRepository(name)) throw regError('NAME_UNKNOWN', `repository ${name} is not known`, { detail: { name } });
          throw regError('MANIFEST_UNKNOWN', `manifest ${reference} is not in repository ${name}`, { detail: { reference } });
        }
        if (!acceptable(c.req.header('accept'), info.mediaType)) {
          throw regError('MANIFEST_UNKNOWN', `manifest ${reference} is a ${info.mediaType}, which the Accept header does not list`, { detail: { mediaType: info.mediaType } });
        }
        const headers = { 'Content-Type': info.mediaType, 'Content-Length': String(info.size), 'Docker-Content-Digest': info.digest, ETag: `"${info.digest}"` };
        if (method === 'HEAD') return empty(200, headers);
        const m = await registry.getManifest(name, info.digest);
        if (!m) throw regError('MANIFEST_UNKNOWN', `manifest ${reference} was deleted meanwhile`);
        return new Response(new Uint8Array(m.body) as Uint8Array<ArrayBuffer>, { status: 200, headers: { ...API_VERSION_HEADER, ...headers } });
      }
      case 'PUT': {
        const max = registry.limits.maxManifestBytes;
        const body = await readSmallBody(c, max, () => regError('SIZE_INVALID', `manifest larger than the ${max} bytes allowed`, { status: 413, detail: { limit: max } }));
        const contentType = c.req.header('content-type');
        const user = c.get('registryUser');
        await access.claim(user, name);
        await checkBlobsUsable(user, name, body, contentType ?? '');
        const { digest, subject } = await registry.putManifest(name, reference, body, contentType ?? '', { pushedBy: user.name });
        return empty(201, { Location: `/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest, ...(subject ? { 'OCI-Subject': subject } : {}) });
      }
      case 'DELETE':
        await mustWrite(c, name);
        await deleteReference(registry, opts.guard, name, reference);
        return empty(202);
      default:
        throw notAllowed(method);
    }
  }

  /** Refuses a manifest that references a stored blob the user cannot read anywhere (a malformed one is the store's to refuse). */
  async function checkBlobsUsable(user: RegistryUser, name: string, body: Buffer, contentType: string): Promise<void> {
    let blobs: readonly { digest: string }[];
    try {
      blobs = parseManifest(body, contentType).blobs;
    } catch {
      return;
    }
    for (const b of blobs) {
      if ((await registry.hasBlob(b.digest)) && !(await access.canUseBlob(user, b.digest, name))) {
        throw regError('MANIFEST_BLOB_UNKNOWN', `blob ${b.digest} is not stored`, { detail: { digest: b.digest } });
      }
    }
  }

  return app;
}

/** False only when Accept names manifest types, not this one, and no wildcard. */
function acceptable(accept: string | undefined, mediaType: string): boolean {
  if (!accept) return true;
  const types = accept.split(',').map((t) => bareMediaType(t));
  if (types.includes(mediaType) || types.some((t) => t === '*/*' || t === 'application/*')) return true;
  const namesManifests = types.some((t) => STORABLE_MANIFEST_TYPES.has(t));
  // An OCI index also goes to a client that asked for a Docker manifest list (and the reverse): both pick a platform the same way.
  return !namesManifests || (INDEX_TYPES.has(mediaType) && types.some((t) => INDEX_TYPES.has(t)));
}
