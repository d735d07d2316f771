import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { HangarError } from '../../../src/lib/errors.js';
import { RegistryClient } from '../../../src/distribution/client.js';
import { parseChallenge, registryBaseUrl } from '../../../src/distribution/transport.js';

/**
 * A tiny in-process registry: Bearer token auth (realm on the same server,
 * Basic creds user:pass), manifests, blobs with Range and a mode that cuts
 * the first download of a blob off half-way, monolithic and chunked uploads,
 * cross-repository mount. Enough to exercise every path of the client.
 */
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const TOKEN = 'tok-123';
const blobs = new Map<string, Buffer>();
const manifests = new Map<string, { body: Buffer; type: string }>();
const uploads = new Map<string, Buffer>();
/** `repo@digest`: which repositories hold which blobs (a mount links one). */
const links = new Set<string>();
const log: string[] = [];
let cutOnce = new Set<string>();
let ignoreRange = false;
let server: Server;
let base: string;

function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const url = new URL(req.url ?? '/', 'http://x');
  log.push(`${req.method} ${url.pathname}${url.search}`);
  if (url.pathname === '/token') {
    const auth = req.headers.authorization ?? '';
    if (auth !== `Basic ${Buffer.from('user:pass').toString('base64')}`) return void res.writeHead(401).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: TOKEN, expires_in: 300 }));
    return;
  }
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    const repo = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${base}/token",service="fake"${repo ? `,scope="repository:${repo}:pull"` : ''}`, 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    return;
  }
  let m: RegExpExecArray | null;
  if (url.pathname === '/v2/') return void res.writeHead(200).end('{}');
  if ((m = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(url.pathname))) {
    const key = `${m[1]}:${m[2]}`;
    if (req.method === 'PUT') {
      const d = sha(body);
      manifests.set(key, { body, type: String(req.headers['content-type']) });
      manifests.set(`${m[1]}:${d}`, { body, type: String(req.headers['content-type']) });
      return void res.writeHead(201, { 'docker-content-digest': d, location: `/v2/${m[1]}/manifests/${d}` }).end();
    }
    const got = manifests.get(key);
    if (!got) return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    res.writeHead(200, { 'content-type': got.type, 'docker-content-digest': sha(got.body), 'content-length': got.body.length });
    return void res.end(req.method === 'HEAD' ? undefined : got.body);
  }
  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/(.*)$/.exec(url.pathname))) {
    const repo = m[1]!;
    if (req.method === 'POST') {
      const mount = url.searchParams.get('mount');
      if (mount && blobs.has(mount) && links.has(`${url.searchParams.get('from') ?? ''}@${mount}`)) links.add(`${repo}@${mount}`);
      if (mount && links.has(`${repo}@${mount}`)) return void res.writeHead(201, { location: `/v2/${repo}/blobs/${mount}` }).end();
      const id = randomBytes(4).toString('hex');
      uploads.set(id, Buffer.alloc(0));
      return void res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${id}`, range: '0-0' }).end();
    }
    const id = m[2]!;
    const have = uploads.get(id);
    if (!have) return void res.writeHead(404).end();
    if (req.method === 'PATCH') {
      const cr = String(req.headers['content-range'] ?? '');
      const start = Number(cr.split('-')[0]);
      if (cr && start !== have.length) return void res.writeHead(416).end();
      uploads.set(id, Buffer.concat([have, body]));
      return void res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${id}`, range: `0-${have.length + body.length - 1}` }).end();
    }
    if (req.method === 'PUT') {
      const all = Buffer.concat([have, body]);
      const digest = url.searchParams.get('digest') ?? '';
      if (sha(all) !== digest) return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'digest mismatch' }] }));
      blobs.set(digest, all);
      links.add(`${repo}@${digest}`);
      uploads.delete(id);
      return void res.writeHead(201, { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest }).end();
    }
  }
  if ((m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]+)$/.exec(url.pathname))) {
    const b = links.has(`${m[1]}@${m[2]}`) ? blobs.get(m[2]!) : undefined;
    if (!b) return void res.writeHead(404).end();
    if (req.method === 'HEAD') return void res.writeHead(200, { 'content-length': b.length }).end();
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range && !ignoreRange) {
      const start = Number(range[1]);
      res.writeHead(206, { 'content-length': b.length - start, 'content-range': `bytes ${start}-${b.length - 1}/${b.length}` });
      return void res.end(b.subarray(start));
    }
    res.writeHead(200, { 'content-length': b.length });
    if (cutOnce.has(m[2]!)) {
      cutOnce.delete(m[2]!);
      res.write(b.subarray(0, Math.floor(b.length / 2)), () => res.destroy());
      return;
    }
    return void res.end(b);
  }
  if ((m = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname))) {
    const tags = [...manifests.keys()].filter((k) => k.startsWith(`${m![1]}:`) && !k.includes('sha256:')).map((k) => k.slice(m![1]!.length + 1));
    const last = url.searchParams.get('last');
    const page = tags.sort().filter((t) => !last || t > last).slice(0, 1);
    const more = tags.sort().filter((t) => !last || t > last).length > 1;
    res.writeHead(200, { 'content-type': 'application/json', ...(more ? { link: `</v2/${m[1]}/tags/list?n=1&last=${page[0]}>; rel="next"` } : {}) });
    return void res.end(JSON.stringify({ name: m[1], tags: page }));
  }
  res.writeHead(404).end();
}

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const client = (creds = { username: 'user', password: 'pass' }) => new RegistryClient({ registry: base, credentials: creds, timeoutMs: 5000 });
const readAll = async (s: Readable): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
};

test('registryBaseUrl: http on loopback, https elsewhere, URLs kept', () => {
  assert.equal(registryBaseUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000');
  assert.equal(registryBaseUrl('localhost:5000'), 'http://localhost:5000');
  assert.equal(registryBaseUrl('registry.example.com'), 'https://registry.example.com');
  assert.equal(registryBaseUrl('http://r.example:80/v2/'), 'http://r.example:80');
});

test('parseChallenge reads quoted and bare parameters', () => {
  const c = parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"');
  assert.equal(c.scheme, 'bearer');
  assert.equal(c.params['realm'], 'https://auth.example/token');
  assert.equal(c.params['scope'], 'repository:a/b:pull,push');
  assert.deepEqual(parseChallenge('Basic realm=reg').params, { realm: 'reg' });
});

test('push: token flow, monolithic blob, chunked blob, existing blob, mount, manifest; pull back with progress', async () => {
  const c = client();
  const small = Buffer.from('config-bytes');
  const big = randomBytes(300_000);
  const progress: number[] = [];
  assert.equal(await c.pushBlob('team/app', { digest: sha(small), size: small.length }, { open: (o) => Readable.from([small.subarray(o)]) }), 'uploaded');
  assert.equal(await c.pushBlob('team/app', { digest: sha(big), size: big.length }, { open: (o) => Readable.from([big.subarray(o)]), chunkSize: 100_000, onProgress: (d) => progress.push(d) }), 'uploaded');
  assert.equal(progress[progress.length - 1], big.length);
  assert.equal(log.filter((l) => l.startsWith('PATCH')).length, 3, 'three 100 kB chunks');
  assert.equal(await c.pushBlob('team/app', { digest: sha(small), size: small.length }, { open: () => Readable.from([small]) }), 'exists');
  assert.equal(await c.pushBlob('other/app', { digest: sha(big), size: big.length }, { open: () => Readable.from([big]), mountFrom: 'team/app' }), 'mounted');
  assert.ok(log.includes('GET /token?service=fake&scope=repository%3Ateam%2Fapp%3Apull%2Cpush') || log.some((l) => l.startsWith('GET /token')), 'token fetched');

  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(small), size: small.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(big), size: big.length }] }));
  const d = await c.putManifest('team/app', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(d, sha(manifest));

  const m = await c.getManifest('team/app', 'v1');
  assert.equal(m.digest, d);
  assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const head = await c.headManifest('team/app', 'v1');
  assert.equal(head?.digest, d);
  assert.equal(await c.headManifest('team/app', 'nope'), undefined);
  const seen: number[] = [];
  const back = await readAll(c.openBlob('team/app', { digest: sha(big), size: big.length }, (n) => seen.push(n)));
  assert.ok(back.equals(big));
  assert.equal(seen[seen.length - 1], big.length);
  assert.equal(await c.blobSize('team/app', sha(big)), big.length);
  assert.deepEqual(await c.tags('team/app'), ['v1']);
  c.close();
});

test('a download cut off half-way resumes with a Range request (and without, when ranges are ignored)', async () => {
  const data = randomBytes(2_000_000);
  blobs.set(sha(data), data);
  links.add(`team/app@${sha(data)}`);
  for (const ignore of [false, true]) {
    ignoreRange = ignore;
    cutOnce = new Set([sha(data)]);
    const before = log.length;
    const c = client();
    const back = await readAll(c.openBlob('team/app', { digest: sha(data), size: data.length }));
    c.close();
    assert.ok(back.equals(data), `content intact (ignoreRange=${ignore})`);
    const gets = log.slice(before).filter((l) => l.startsWith(`GET /v2/team/app/blobs/${sha(data)}`));
    assert.ok(gets.length >= 2, 'a second GET after the cut');
  }
  ignoreRange = false;
});

test('wrong credentials, missing manifests and bad names are clear HangarErrors', async () => {
  const bad = client({ username: 'user', password: 'wrong' });
  await assert.rejects(bad.getManifest('team/app', 'v1'), (e: unknown) => e instanceof HangarError && e.kind === 'unauthenticated' && /token service refused user 'user'/.test(e.message));
  bad.close();
  const c = client();
  await assert.rejects(c.getManifest('team/app', 'missing'), (e: unknown) => e instanceof HangarError && e.kind === 'not_found' && /MANIFEST_UNKNOWN/.test(e.message));
  await assert.rejects(c.getManifest('Team/App', 'v1'), (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument');
  await assert.rejects(c.getManifest('team/app', '../etc'), /invalid tag or digest/);
  // A manifest whose content does not match the digest asked for is refused.
  manifests.set(`team/app:sha256:${'a'.repeat(64)}`, { body: Buffer.from('{}'), type: 'application/vnd.oci.image.manifest.v1+json' });
  await assert.rejects(c.getManifest('team/app', `sha256:${'a'.repeat(64)}`), /hashes to/);
  c.close();
  const dead = new RegistryClient({ registry: 'http://127.0.0.1:1', timeoutMs: 2000 });
  await assert.rejects(dead.ping(), (e: unknown) => e instanceof HangarError && e.kind === 'unavailable' && /ECONNREFUSED/.test(e.message));
  dead.close();
});
