/**
 * Bad input to the node's /v2/ API, table-driven over real HTTP: each case is
 * answered with the spec error code and status, and afterwards nothing
 * corrupt or partial is visible in the store.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MT } from '../../../src/oci/media-types.js';
import { startTestNode, type TestNode } from '../../helpers/node.js';
import { pushManifest, pushSmallImage, sha, v2Client, type SmallImage, type V2, type V2Response } from './v2.js';

const isRoot = process.getuid?.() === 0;

interface Case {
  name: string;
  run: () => Promise<V2Response>;
  status: number;
  code: string;
  check?: (r: V2Response) => void | Promise<void>;
}

describe('registry bad input', { skip: isRoot ? false : 'needs root' }, () => {
  let t: TestNode;
  let v2: V2;
  let good: SmallImage;
  const BLOB_LIMIT = 64 * 1024;
  const MANIFEST_LIMIT = 16 * 1024;
  const bad = Buffer.from('content that must never become visible');
  const blobDir = (): string => join(t.config.home, 'images', 'blobs', 'sha256');
  let blobsBefore: string[];

  before(async () => {
    t = await startTestNode();
    v2 = v2Client(t.url, t.token);
    t.node.registry.limits.maxBlobBytes = BLOB_LIMIT;
    t.node.registry.limits.maxManifestBytes = MANIFEST_LIMIT;
    good = await pushSmallImage(v2, 'bad/app', { f: 'good' });
    assert.equal((await pushManifest(v2, 'bad/app', 'good', good.manifestBytes)).status, 201);
    blobsBefore = readdirSync(blobDir()).sort();
  });
  after(async () => {
    await t?.close();
  });

  const manifestWith = (over: Record<string, unknown>): Record<string, unknown> => ({ ...good.manifest, ...over });
  const config = (): Record<string, unknown> => (good.manifest['config'] as Record<string, unknown>);
  const layer = (): Record<string, unknown> => (good.manifest['layers'] as Array<Record<string, unknown>>)[0]!;
  const session = async (repo = 'bad/app'): Promise<string> => {
    const r = await v2('POST', `/v2/${repo}/blobs/uploads/`);
    assert.equal(r.status, 202);
    return r.headers.get('location')!;
  };
  /** Runs `fn` on a fresh upload session, which is cancelled afterwards (if fn left it). */
  const inSession = (fn: (loc: string) => Promise<V2Response>) => async (): Promise<V2Response> => {
    const loc = await session();
    try {
      return await fn(loc);
    } finally {
      await v2('DELETE', loc);
    }
  };
  const patch = (loc: string, data: Buffer, range?: string, extra: Record<string, string> = {}): Promise<V2Response> =>
    v2('PATCH', loc, { body: data, headers: { 'content-type': 'application/octet-stream', ...(range ? { 'content-range': range } : {}), ...extra } });
  const put = (repo: string, ref: string, body: string | Buffer, ct: string = MT.ociManifest): Promise<V2Response> =>
    v2('PUT', `/v2/${repo}/manifests/${ref}`, { body, headers: { 'content-type': ct } });
  const missing = sha('a blob nobody pushed');

  const cases: Case[] = [
    // manifests
    { name: 'malformed manifest JSON', run: () => put('bad/app', 'm1', '{"schemaVersion": 2, '), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'manifest that is a JSON array', run: () => put('bad/app', 'm2', '[]'), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'Docker schema 1 manifest', run: () => put('bad/app', 'm3', JSON.stringify({ schemaVersion: 1, name: 'x', fsLayers: [] }), 'application/json'), status: 415, code: 'UNSUPPORTED' },
    { name: 'schemaVersion 3', run: () => put('bad/app', 'm4', JSON.stringify(manifestWith({ schemaVersion: 3 }))), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'manifest referencing a missing layer', run: () => put('bad/app', 'm5', JSON.stringify(manifestWith({ layers: [{ mediaType: MT.ociLayer, digest: missing, size: 3 }] }))), status: 400, code: 'MANIFEST_BLOB_UNKNOWN' },
    { name: 'manifest referencing a missing config', run: () => put('bad/app', 'm6', JSON.stringify(manifestWith({ config: { mediaType: MT.ociConfig, digest: missing, size: 3 } }))), status: 400, code: 'MANIFEST_BLOB_UNKNOWN' },
    {
      name: 'index referencing a missing manifest',
      run: () => put('bad/app', 'm7', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: missing, size: 10 }] }), MT.ociIndex),
      status: 400,
      code: 'MANIFEST_BLOB_UNKNOWN',
    },
    { name: 'descriptor with a malformed digest', run: () => put('bad/app', 'm8', JSON.stringify(manifestWith({ layers: [{ ...layer(), digest: 'sha256:1234' }] }))), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'descriptor size that is not the blob size', run: () => put('bad/app', 'm9', JSON.stringify(manifestWith({ layers: [{ ...layer(), size: Number(layer()['size']) + 1 }] }))), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'descriptor with a negative size', run: () => put('bad/app', 'm10', JSON.stringify(manifestWith({ config: { ...config(), size: -1 } }))), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'manifest without layers', run: () => put('bad/app', 'm11', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: config() })), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'index with layers', run: () => put('bad/app', 'm12', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [], layers: [] }), MT.ociIndex), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'manifest PUT by a digest it does not hash to', run: () => put('bad/app', sha('other'), good.manifestBytes), status: 400, code: 'DIGEST_INVALID' },
    { name: 'unknown manifest media type', run: () => put('bad/app', 'm13', good.manifestBytes, 'application/vnd.example.thing+json'), status: 415, code: 'UNSUPPORTED' },
    { name: "OCI artifact manifest type (dropped from the spec)", run: () => put('bad/app', 'm14', JSON.stringify(manifestWith({ mediaType: 'application/vnd.oci.artifact.manifest.v1+json' })), 'application/vnd.oci.artifact.manifest.v1+json'), status: 415, code: 'UNSUPPORTED' },
    { name: 'Content-Type differs from the body mediaType', run: () => put('bad/app', 'm15', good.manifestBytes, MT.dockerManifest), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'manifest over the size limit', run: () => put('bad/app', 'm16', JSON.stringify(manifestWith({ annotations: { pad: 'x'.repeat(MANIFEST_LIMIT) } }))), status: 413, code: 'SIZE_INVALID' },
    { name: 'invalid tag', run: () => put('bad/app', '-bad', good.manifestBytes), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'tag longer than 128 characters', run: () => put('bad/app', 't'.repeat(129), good.manifestBytes), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'manifest not acceptable per Accept', run: () => v2('GET', '/v2/bad/app/manifests/good', { headers: { accept: MT.dockerManifestList } }), status: 404, code: 'MANIFEST_UNKNOWN' },
    { name: 'unknown manifest in a known repository', run: () => v2('GET', '/v2/bad/app/manifests/nope'), status: 404, code: 'MANIFEST_UNKNOWN' },
    { name: 'manifest of an unknown repository', run: () => v2('GET', '/v2/no/such/repo/manifests/latest'), status: 404, code: 'NAME_UNKNOWN' },
    { name: 'DELETE of an unknown manifest', run: () => v2('DELETE', `/v2/bad/app/manifests/${missing}`), status: 404, code: 'MANIFEST_UNKNOWN' },
    { name: 'method not allowed on manifests', run: () => v2('POST', '/v2/bad/app/manifests/good'), status: 405, code: 'UNSUPPORTED' },
    // digests and blobs
    { name: 'malformed digest', run: () => v2('GET', '/v2/bad/app/blobs/sha256:xyz'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'unsupported digest algorithm', run: () => v2('GET', `/v2/bad/app/blobs/sha512:${'a'.repeat(128)}`), status: 400, code: 'DIGEST_INVALID' },
    { name: 'unknown blob', run: () => v2('GET', `/v2/bad/app/blobs/${missing}`), status: 404, code: 'BLOB_UNKNOWN' },
    { name: 'blob of another repository', run: () => v2('GET', `/v2/other/app/blobs/${sha(good.blobs[0]!)}`), status: 404, code: 'BLOB_UNKNOWN' },
    { name: 'monolithic upload whose content does not match its digest', run: () => v2('POST', `/v2/bad/app/blobs/uploads/?digest=${sha('something else')}`, { body: bad }), status: 400, code: 'DIGEST_INVALID' },
    { name: 'monolithic upload with a malformed digest', run: () => v2('POST', '/v2/bad/app/blobs/uploads/?digest=md5:abc', { body: bad }), status: 400, code: 'DIGEST_INVALID' },
    { name: 'monolithic blob over the size limit', run: () => v2('POST', `/v2/bad/app/blobs/uploads/?digest=${sha(Buffer.alloc(BLOB_LIMIT + 1))}`, { body: Buffer.alloc(BLOB_LIMIT + 1) }), status: 413, code: 'SIZE_INVALID' },
    {
      name: 'chunked blob growing over the size limit',
      run: inSession(async (loc) => {
        assert.equal((await patch(loc, Buffer.alloc(BLOB_LIMIT - 10), `0-${BLOB_LIMIT - 11}`)).status, 202);
        const r = await patch(loc, Buffer.alloc(100), `${BLOB_LIMIT - 10}-${BLOB_LIMIT + 89}`);
        const status = await v2('GET', loc);
        assert.equal(status.headers.get('range'), `0-${BLOB_LIMIT - 11}`, 'the refused chunk left nothing');
        return r;
      }),
      status: 413,
      code: 'SIZE_INVALID',
    },
    {
      name: 'truncated upload: PUT with fewer bytes than the digest names',
      run: async () => {
        const whole = Buffer.alloc(5000, 7);
        const loc = await session();
        assert.equal((await patch(loc, whole.subarray(0, 3000))).status, 202);
        const r = await v2('PUT', `${loc}?digest=${sha(whole)}`);
        assert.equal((await v2('GET', loc)).status, 404, 'the failed upload is discarded');
        return r;
      },
      status: 400,
      code: 'DIGEST_INVALID',
    },
    {
      name: 'PATCH at the wrong offset',
      run: inSession(async (loc) => {
        await patch(loc, Buffer.alloc(10, 1), '0-9');
        const r = await patch(loc, Buffer.alloc(10, 2), '20-29');
        return r;
      }),
      status: 416,
      code: 'BLOB_UPLOAD_INVALID',
      check: (r) => assert.equal(r.headers.get('range'), '0-9'),
    },
    {
      name: 'malformed Content-Range',
      run: inSession(async (loc) => {
        const r = await patch(loc, Buffer.alloc(10), 'ten-twenty');
        return r;
      }),
      status: 416,
      code: 'BLOB_UPLOAD_INVALID',
    },
    {
      name: 'Content-Range that does not match the chunk',
      run: inSession(async (loc) => {
        const r = await patch(loc, Buffer.alloc(10), '0-19');
        const s = await v2('GET', loc);
        assert.equal(s.headers.get('range'), '0-0');
        return r;
      }),
      status: 416,
      code: 'BLOB_UPLOAD_INVALID',
    },
    { name: 'unknown upload uuid', run: () => patch('/v2/bad/app/blobs/uploads/00000000-0000-4000-8000-000000000000', bad), status: 404, code: 'BLOB_UPLOAD_UNKNOWN' },
    { name: 'malformed upload uuid', run: () => v2('GET', '/v2/bad/app/blobs/uploads/..%2F..%2Fregistry.db'), status: 404, code: 'BLOB_UPLOAD_UNKNOWN' },
    {
      name: 'upload continued under another repository',
      run: inSession(async (loc) => {
        const r = await patch(loc.replace('/bad/app/', '/bad/other/'), bad);
        return r;
      }),
      status: 404,
      code: 'BLOB_UPLOAD_UNKNOWN',
    },
    {
      name: 'completing an upload without a digest',
      run: inSession(async (loc) => {
        const r = await v2('PUT', loc);
        return r;
      }),
      status: 400,
      code: 'DIGEST_INVALID',
    },
    {
      name: 'too many uploads at once',
      run: async () => {
        t.node.registry.limits.maxUploads = 2;
        const locs = [await session(), await session()];
        const r = await v2('POST', '/v2/bad/app/blobs/uploads/');
        for (const l of locs) await v2('DELETE', l);
        t.node.registry.limits.maxUploads = 1000;
        return r;
      },
      status: 429,
      code: 'TOO_MANY_REQUESTS',
    },
    // names
    { name: 'uppercase repository name', run: () => v2('GET', '/v2/A/B/tags/list'), status: 400, code: 'NAME_INVALID' },
    { name: 'empty path component', run: () => v2('GET', '/v2/a//b/tags/list'), status: 400, code: 'NAME_INVALID' },
    { name: 'encoded path traversal', run: () => v2('GET', '/v2/..%2F..%2Fetc/tags/list'), status: 400, code: 'NAME_INVALID' },
    { name: 'traversal in a push', run: () => v2('POST', `/v2/a/..%2Fx/blobs/uploads/?digest=${sha(bad)}`, { body: bad }), status: 400, code: 'NAME_INVALID' },
    { name: 'dot-component', run: () => v2('GET', '/v2/a/.hidden/manifests/latest'), status: 400, code: 'NAME_INVALID' },
    { name: 'repository name over 255 characters', run: () => v2('GET', `/v2/${'a'.repeat(200)}/${'b'.repeat(60)}/tags/list`), status: 400, code: 'NAME_INVALID' },
    { name: 'separator at the end of a component', run: () => v2('GET', '/v2/app-/tags/list'), status: 400, code: 'NAME_INVALID' },
    { name: 'malformed page size', run: () => v2('GET', '/v2/bad/app/tags/list?n=-1'), status: 400, code: 'UNSUPPORTED' },
    { name: 'referrers of a malformed digest', run: () => v2('GET', '/v2/bad/app/referrers/sha256:nothex'), status: 400, code: 'DIGEST_INVALID' },
    // auth
    {
      name: 'no credentials',
      run: () => v2('POST', `/v2/bad/app/blobs/uploads/?digest=${sha(bad)}`, { body: bad, auth: null }),
      status: 401,
      code: 'UNAUTHORIZED',
      check: (r) => assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/v2\/token",service="hangar",scope="repository:bad\/app:pull,push"$/),
    },
    { name: 'wrong bearer token', run: () => v2('GET', '/v2/_catalog', { auth: 'Bearer not-a-token' }), status: 401, code: 'UNAUTHORIZED' },
    { name: 'wrong Basic password', run: () => v2('GET', '/v2/', { auth: `Basic ${Buffer.from('admin:wrong').toString('base64')}` }), status: 401, code: 'UNAUTHORIZED' },
    { name: 'token endpoint with a wrong password', run: () => v2('GET', '/v2/token', { auth: `Basic ${Buffer.from('admin:wrong').toString('base64')}` }), status: 401, code: 'UNAUTHORIZED' },
    { name: 'unauthenticated manifest delete', run: () => v2('DELETE', '/v2/bad/app/manifests/good', { auth: null }), status: 401, code: 'UNAUTHORIZED' },
  ];

  it(`answers ${cases.length} kinds of bad input with the spec error`, async () => {
    assert.ok(cases.length >= 30);
    const wrong: string[] = [];
    for (const c of cases) {
      const r = await c.run();
      const code = (r.json as { errors?: Array<{ code: string; message: string }> } | undefined)?.errors?.[0]?.code;
      if (r.status !== c.status || code !== c.code) {
        wrong.push(`${c.name}: got ${r.status} ${code ?? r.body.toString().slice(0, 200)}, want ${c.status} ${c.code}`);
        continue;
      }
      assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0', c.name);
      assert.equal(typeof (r.json as { errors: Array<{ message: unknown }> }).errors[0]!.message, 'string', c.name);
      await c.check?.(r);
    }
    assert.deepEqual(wrong, []);
  });

  it('left nothing corrupt or partial behind', async () => {
    assert.deepEqual(readdirSync(blobDir()).sort(), blobsBefore, 'no new blob');
    assert.deepEqual(await t.node.registry.repositories(), ['bad/app', 'hello']);
    assert.deepEqual((await t.node.registry.tags('bad/app')).map((x) => x.tag), ['good']);
    assert.deepEqual(readdirSync(join(t.config.home, 'images', 'uploads')), [], 'no upload left');
    assert.deepEqual(readdirSync(join(t.config.home, 'images', 'tmp')), [], 'no staging left');
    assert.equal(await t.node.registry.hasBlob(sha(bad)), false);
    const m = await v2('GET', '/v2/bad/app/manifests/good');
    assert.ok(m.body.equals(good.manifestBytes));
    for (const b of good.blobs) assert.ok((await v2('GET', `/v2/bad/app/blobs/${sha(b)}`)).body.equals(b));
  });
});
