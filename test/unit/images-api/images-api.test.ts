import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { serve } from '../../../src/api/server.js';
import { containerImage, erofsImage, romImage, storeInRegistry, unikernelImage } from '../unikraft/layouts.js';
import { imagesHarness } from './harness.js';

type H = Awaited<ReturnType<typeof imagesHarness>>;
let h: H;
let helloDigest: string;
let ukDigest: string;
let romDigest: string;
let alice: { token: string; uuid: string };
let bob: { token: string; uuid: string };

before(async () => {
  h = await imagesHarness({ central: true });
  alice = h.addUser('alice');
  bob = h.addUser('bob');
  helloDigest = await storeInRegistry(h.registry, { repo: 'hello', tag: 'v1', pushedBy: 'alice' }, containerImage('v1'));
  await h.registry.owners.claim('hello', { owner: alice.uuid, public: false }); // as alice's first push over /v2/ records it
  await h.registry.putManifest('hello', 'stable', (await h.registry.getManifest('hello', 'v1'))!.body, 'application/vnd.oci.image.manifest.v1+json');
  ukDigest = await storeInRegistry(h.registry, { repo: 'apps/uk', tag: 'latest' }, unikernelImage({ os: 'qemu' }), unikernelImage({ os: 'fc' }));
  romDigest = await storeInRegistry(h.registry, { repo: 'roms/site', tag: 'v1' }, romImage([erofsImage({ 'index.html': '<h1>hi</h1>' })]));
  // Central holds library/app:v1 … v6 (different content each).
  for (const v of [1, 2, 3, 4, 5, 6]) await storeInRegistry(h.remote!.registry, { repo: 'library/app', tag: `v${v}` }, containerImage(`app-${v}`));
});
after(async () => {
  await h?.close();
});

const byRepo = (items: Array<Record<string, unknown>>, repo: string) => items.find((i) => String(i['url']).includes(`/${repo}:`) || String(i['url']).includes(`/${repo}@`));

test('GET /v1/images lists what the node holds with the UKC Image fields', async () => {
  const r = await h.call('GET', '/v1/images');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.status, 'success');
  const hello = byRepo(r.items, 'hello')!;
  assert.match(String(hello['url']), new RegExp(`^127\\.0\\.0\\.1:8080/hello:(v1|stable)@${helloDigest}$`));
  assert.equal(hello['digest'], helloDigest);
  assert.equal(hello['created_at'], '2024-05-06T07:08:09.000Z');
  assert.equal(hello['initrd_or_rom'], false);
  assert.ok(Number(hello['size_in_bytes']) > 0);
  assert.deepEqual(hello['args'], ['/hello']);
  assert.deepEqual(hello['env'], { A: '1' });
  assert.deepEqual([...(hello['tags'] as string[])].sort(), ['hello:stable', 'hello:v1']);
  assert.deepEqual(hello['users'], []);
  assert.equal(hello['owner'], 'alice');
  assert.equal(hello['kind'], 'oci');
  assert.equal(hello['platform'], 'linux/amd64');

  const uk = byRepo(r.items, 'apps/uk')!;
  assert.equal(uk['digest'], ukDigest);
  assert.equal(uk['initrd_or_rom'], true);
  assert.equal(uk['kind'], 'unikernel');
  assert.equal(uk['platform'], 'qemu/x86_64');
  assert.deepEqual(uk['args'], ['/app', '--port', '8080']);
  assert.deepEqual(uk['env'], { PATH: '/bin', MODE: 'prod' });
  assert.equal(uk['owner'], undefined);
  const parts = uk['unikernel'] as { kernel: { path: string }; initrd: { path: string }; roms: unknown[]; os_version: string; os_features: string[] };
  assert.equal(parts.kernel.path, '/unikraft/bin/kernel');
  assert.equal(parts.initrd.path, '/unikraft/bin/initrd');
  assert.deepEqual(parts.roms, []);
  assert.equal(parts.os_version, '0.17.0');
  assert.deepEqual(parts.os_features, ['CONFIG_LIBUKFS_EROFS=y', 'CONFIG_LIBVFSCORE=y']);
  assert.equal(hello['unikernel'], undefined);

  const rom = byRepo(r.items, 'roms/site')!;
  assert.equal(rom['digest'], romDigest);
  assert.equal(rom['kind'], 'rom');
  assert.equal(rom['initrd_or_rom'], true);
  assert.equal(rom['platform'], 'kraftcloud/x86_64');
  const roms = (rom['unikernel'] as { roms: Array<Record<string, unknown>> }).roms;
  assert.equal(roms.length, 1);
  assert.equal(roms[0]!['format'], 'erofs');
  assert.equal(roms[0]!['aligned'], true);
  assert.equal(roms[0]!['name'], 'rom0');
});

test('filters: digest, tag (name:tag, bare tag), child digest of an index; misses are in-band not-found', async () => {
  const byDigest = await h.call('GET', `/v1/images?digest=${helloDigest}`);
  assert.deepEqual(byDigest.items.map((i) => i['digest']), [helloDigest]);
  const byTag = await h.call('GET', '/v1/images?tag=apps/uk:latest');
  assert.deepEqual(byTag.items.map((i) => i['digest']), [ukDigest]);
  const bare = await h.call('GET', '/v1/images?tag=stable');
  assert.deepEqual(bare.items.map((i) => i['digest']), [helloDigest]);
  const fullUrl = await h.call('GET', '/v1/images?tag=127.0.0.1:8080/hello:v1');
  assert.deepEqual(fullUrl.items.map((i) => i['digest']), [helloDigest]);
  const child = JSON.parse((await h.registry.getManifest('apps/uk', 'latest'))!.body.toString()) as { manifests: Array<{ digest: string }> };
  const byChild = await h.call('GET', `/v1/images?digest=${child.manifests[1]!.digest}`);
  assert.deepEqual(byChild.items.map((i) => i['digest']), [ukDigest]);
  const two = await h.call('GET', `/v1/images?digest=${helloDigest}&tag=roms/site:v1`);
  assert.equal(two.items.length, 2);
  const miss = await h.call('GET', `/v1/images?digest=sha256:${'e'.repeat(64)}&tag=hello:v1`);
  assert.equal(miss.json.status, 'partial_success');
  assert.equal(miss.items[0]!['error'], 8);
  assert.match(String(miss.items[0]!['message']), /No image with digest/);
  assert.equal(miss.items[1]!['digest'], helloDigest);
});

test('bad filters and unknown fields are 400s naming the field', async () => {
  const badDigest = await h.call('GET', '/v1/images?digest=sha256:xyz');
  assert.equal(badDigest.status, 400);
  assert.match(String(badDigest.json.message), /^digest\[0\]: /);
  const unknown = await h.call('GET', '/v1/images?colour=red');
  assert.equal(unknown.status, 400);
  assert.match(String(unknown.json.message), /colour: unknown field/);
  const pinNoTimeout = await h.call('POST', '/v1/images', { body: { url: 'library/app:v1' } });
  assert.equal(pinNoTimeout.status, 400);
  assert.match(String(pinNoTimeout.json.message), /^timeout_s: /);
  const pinExtra = await h.call('POST', '/v1/images', { body: [{ url: 'library/app:v1', timeout_s: 5, nope: 1 }] });
  assert.equal(pinExtra.status, 400);
  assert.match(String(pinExtra.json.message), /\[0\]\.nope: unknown field/);
  const badPolicy = await h.call('POST', '/v1/images', { body: { url: 'x:1', timeout_s: 1, pull_policy: 'sometimes' } });
  assert.match(String(badPolicy.json.message), /^pull_policy: /);
  const badUnpin = await h.call('DELETE', '/v1/images', { body: [{ uuid: 'not-a-uuid' }] });
  assert.match(String(badUnpin.json.message), /\[0\]\.uuid: must be a UUID/);
  const badRm = await h.call('DELETE', '/v1/registry/images', { body: [{ name: 'hello', tag: 'v1', digest: helloDigest }] });
  assert.match(String(badRm.json.message), /tag or digest, not both/);
  const badNs = await h.call('GET', '/v1/registry/images?what=1');
  assert.match(String(badNs.json.message), /what: unknown field/);
});

test('GET /v1/images with a go-sdk style GET body', async () => {
  const server = await serve(h.app, '127.0.0.1', 0);
  try {
    const port = (server.address() as AddressInfo).port;
    const body = JSON.stringify([{ tag: 'roms/site:v1' }]);
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/v1/images', method: 'GET', headers: { authorization: `Bearer ${h.admin.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve(Buffer.concat(parts).toString()));
      });
      req.on('error', reject);
      req.end(body);
    });
    const env = JSON.parse(text) as { data: { images: Array<Record<string, unknown>> } };
    assert.deepEqual(env.data.images.map((i) => i['digest']), [romDigest]);
    assert.match(String(env.data.images[0]!['url']), new RegExp(`^127\\.0\\.0\\.1:${port}/roms/site:v1@`));
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('instances from an ImageSpec: never → 400 naming image; if_not_present pulls from central; users lists the owner', async () => {
  const never = await h.call('POST', '/v1/instances', { body: { image: { url: 'library/app:v1', pull_policy: 'never' }, autostart: false } });
  assert.equal(never.status, 400);
  assert.match(String(never.json.message), /^image: image 'library\/app:v1' is not on this node and pull_policy is 'never'/);
  assert.deepEqual(await h.registry.tags('library/app'), []);

  const made = await h.call('POST', '/v1/instances', { body: { name: 'a1', image: { url: 'library/app:v1' }, autostart: false }, token: alice.token });
  assert.equal(made.status, 200, JSON.stringify(made.json));
  assert.equal(made.items[0]!['image'], 'library/app:v1');
  const tags = await h.registry.tags('library/app');
  assert.deepEqual(tags.map((t) => t.tag), ['v1']);
  const inst = (await h.store.getInstanceByName('a1'))!;
  assert.equal(inst.imageDigest, tags[0]!.digest);

  // A full URL naming central resolves to the same local image without pulling again.
  const before = h.remote!.requests.length;
  const again = await h.call('POST', '/v1/instances', { body: { name: 'a2', image: `${new URL(h.remote!.url).host}/library/app:v1`, autostart: false }, token: bob.token });
  assert.equal(again.status, 200, JSON.stringify(again.json));
  assert.equal(h.remote!.requests.length, before, 'a cached image is not asked for again');

  const asAdmin = byRepo((await h.call('GET', '/v1/images?tag=library/app:v1')).items, 'library/app')!;
  assert.deepEqual(asAdmin['users'], ['alice', 'bob']);
  const asAlice = byRepo((await h.call('GET', '/v1/images?tag=library/app:v1', { token: alice.token })).items, 'library/app')!;
  assert.deepEqual(asAlice['users'], ['alice'], 'a user sees only their own name');
});

test('name@sha256:… pulls that manifest from central without a tag, and the listing shows it with its user', async () => {
  const d = (await h.remote!.registry.getManifest('library/app', 'v4'))!.digest;
  const r = await h.call('POST', '/v1/instances', { body: { name: 'by-digest', image: `library/app@${d}`, autostart: false } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal((await h.store.getInstanceByName('by-digest'))!.imageDigest, d);
  assert.ok(!(await h.registry.tags('library/app')).some((t) => t.digest === d), 'no tag was made');
  const listed = (await h.call('GET', `/v1/images?digest=${d}`)).items[0]!;
  assert.equal(listed['url'], `127.0.0.1:8080/library/app@${d}`);
  assert.deepEqual(listed['tags'], []);
  assert.deepEqual(listed['users'], ['admin']);
  await h.store.deleteInstance((await h.store.getInstanceByName('by-digest'))!.uuid);
});

test('5 concurrent creates of the same missing image pull it once', async () => {
  const mark = h.remote!.requests.length;
  const results = await Promise.all([0, 1, 2, 3, 4].map((i) => h.call('POST', '/v1/instances', { body: { name: `c${i}`, image: 'library/app:v2', autostart: false } })));
  for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.json));
  const manifestGets = h.remote!.requests.slice(mark).filter((l) => l === 'GET /v2/library/app/manifests/v2');
  assert.equal(manifestGets.length, 1, h.remote!.requests.slice(mark).join('\n'));
  const digests = new Set(await Promise.all(results.map(async (r) => (await h.store.getInstance(String(r.items[0]!['uuid'])))!.imageDigest)));
  assert.equal(digests.size, 1);
});

test('always asks central again but fetches no blob the node holds', async () => {
  const mark = h.remote!.requests.length;
  const r = await h.call('POST', '/v1/instances', { body: { name: 'al1', image: { url: 'library/app:v2', pull_policy: 'always' }, autostart: false } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const reqs = h.remote!.requests.slice(mark);
  assert.ok(reqs.includes('GET /v2/library/app/manifests/v2'), reqs.join('\n'));
  assert.equal(reqs.filter((l) => /\/blobs\//.test(l)).length, 0, reqs.join('\n'));
});

test('a failed pull leaves no tag and no instance (blob gone from central mid-pull; refused credentials)', async () => {
  const m = JSON.parse((await h.remote!.registry.getManifest('library/app', 'v3'))!.body.toString()) as { layers: Array<{ digest: string }> };
  rmSync(h.remote!.registry.blobPath(m.layers[0]!.digest));
  const r = await h.call('POST', '/v1/instances', { body: { name: 'broken', image: 'library/app:v3', autostart: false } });
  assert.ok(r.status >= 400, JSON.stringify(r.json));
  assert.equal(r.json.message, "image: image 'library/app:v3' could not be pulled (the node's log says why)");
  assert.equal(await h.store.getInstanceByName('broken'), undefined);
  assert.equal(await h.registry.getManifest('library/app', 'v3'), undefined);
  assert.ok(!(await h.registry.tags('library/app')).some((t) => t.tag === 'v3'));

  const wrong = await h.call('POST', '/v1/instances', { body: { name: 'wrongcreds', image: { url: 'library/app:v4', credentials: { username: 'x', password: 'bad' } }, autostart: false } });
  assert.equal(wrong.status, 400, JSON.stringify(wrong.json));
  assert.equal(wrong.json.message, "image: image 'library/app:v4' could not be pulled (the node's log says why)", 'refused credentials answer like any failed pull');
  assert.equal(await h.store.getInstanceByName('wrongcreds'), undefined);

  const missing = await h.call('POST', '/v1/instances', { body: { image: 'library/nothing:v1', autostart: false } });
  assert.equal(missing.status, 400);
  assert.equal(missing.json.message, "image: image 'library/nothing:v1' could not be pulled (the node's log says why)");
});

test('a unikernel or ROM image is stored but the runc driver refuses to run it (400 naming image)', async () => {
  for (const ref of ['apps/uk:latest', 'roms/site:v1']) {
    const r = await h.call('POST', '/v1/instances', { body: { image: ref, autostart: false } });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.match(String(r.json.message), new RegExp(`^image: '${ref.replace('/', '\\/')}' is a unikernel/ROM image \\((unikernel, qemu|ROM, kraftcloud)/x86_64\\); the runc driver cannot run it`));
  }
});

test('pin: pulls and keeps; same url → same uuid; image-store shows persistent; unpin', async () => {
  const mark = h.remote!.requests.length;
  const p = await h.call('POST', '/v1/images', { body: [{ url: 'library/app:v5', timeout_s: 10 }] });
  assert.equal(p.status, 200, JSON.stringify(p.json));
  const pin = p.items[0]!;
  assert.equal(pin['status'], 'success');
  assert.equal(pin['state'], 'ready');
  assert.equal(pin['url'], 'library/app:v5');
  assert.equal(pin['persistent'], true);
  assert.deepEqual(pin['tags'], ['library/app:v5']);
  assert.match(String(pin['uuid']), /^[0-9a-f-]{36}$/);
  assert.ok(h.remote!.requests.slice(mark).includes('GET /v2/library/app/manifests/v5'));
  const again = await h.call('POST', '/v1/images', { body: { url: 'library/app:v5', timeout_s: -1 } });
  assert.equal(again.items[0]!['uuid'], pin['uuid']);

  const store = await h.call('GET', '/v1/image-store?tag=library/app:v5');
  assert.equal(store.items[0]!['persistent'], true);
  assert.equal((await h.call('GET', '/v1/image-store?tag=hello:v1')).items[0]!['persistent'], false);

  const rm = await h.call('DELETE', '/v1/registry/images', { body: [{ name: 'library/app', tag: 'v5' }] });
  assert.equal(rm.items[0]!['status'], 'error');
  assert.equal(rm.items[0]!['error'], 9);
  assert.match(String(rm.items[0]!['message']), /is pinned; unpin it first/);

  const un = await h.call('DELETE', '/v1/images', { body: [{ uuid: pin['uuid'] }, { uuid: '00000000-0000-4000-8000-000000000000' }] });
  assert.equal(un.json.status, 'partial_success');
  assert.deepEqual(un.items[0], { status: 'success', uuid: pin['uuid'], name: 'library/app:v5' });
  assert.equal(un.items[1]!['error'], 8);
  assert.equal((await h.call('GET', '/v1/image-store?tag=library/app:v5')).items[0]!['persistent'], false);
  // Unpinned, the image stays until removed.
  assert.ok((await h.registry.tags('library/app')).some((t) => t.tag === 'v5'));
});

test('pin failures are in-band entries; never on a missing image names url', async () => {
  const r = await h.call('POST', '/v1/images', { body: [{ url: 'library/app:v6', timeout_s: 5, pull_policy: 'never' }, { url: 'library/ghost:v1', timeout_s: 5 }] });
  assert.equal(r.json.status, 'error');
  assert.match(String(r.items[0]!['message']), /^url: image 'library\/app:v6' is not on this node and pull_policy is 'never'/);
  assert.equal(r.items[1]!['error'], 8);
  assert.match(String(r.items[1]!['message']), /^image 'library\/ghost:v1' could not be pulled \(the node's log says why\)$/);
  const bg = await h.call('POST', '/v1/images', { body: { url: 'library/app:v6', timeout_s: 0 } });
  assert.equal(bg.items[0]!['state'], 'pulling');
  // The tag lands before the pin is recorded: wait for the pin.
  const pinned = async (): Promise<boolean> => (await h.images.pins()).some((p) => p.url === 'library/app:v6' && p.state === 'ready');
  for (let i = 0; i < 100 && !(await pinned()); i++) await new Promise((res) => setTimeout(res, 20));
  const pins = await h.call('GET', '/v1/image-store?tag=library/app:v6');
  assert.equal(pins.items[0]!['persistent'], true);
});

test('removal refuses images in use (by digest or by the tag an instance names), then collects', async () => {
  h.addInstance('uses-hello', alice.uuid, 'hello:v1', helloDigest);
  const refused = await h.call('DELETE', '/v1/registry/images', { body: { name: 'hello', digest: helloDigest } });
  assert.equal(refused.items[0]!['error'], 9);
  assert.match(String(refused.items[0]!['message']), /is used by 1 instance\(s\) \(uses-hello\)/);
  const byTag = await h.call('DELETE', '/v1/registry/images', { body: [{ name: 'hello', tag: 'v1' }] });
  assert.match(String(byTag.items[0]!['message']), /used by 1 instance/);
  // Another tag on the same digest may go: the image stays.
  const other = await h.call('DELETE', '/v1/registry/images', { body: [{ name: 'hello', tag: 'stable' }] });
  assert.equal(other.items[0]!['status'], 'success', JSON.stringify(other.items[0]));
  assert.deepEqual((await h.registry.tags('hello')).map((t) => t.tag), ['v1']);

  // bob does not own it: he may not remove it, and alice's private image is not there for him (not found, as if absent).
  const notHis = await h.call('DELETE', '/v1/registry/images', { body: [{ name: 'hello', tag: 'v1' }], token: bob.token });
  assert.equal(notHis.items[0]!['error'], 8);
  assert.deepEqual((await h.registry.tags('hello')).map((t) => t.tag), ['v1']);

  await h.store.deleteInstance((await h.store.getInstanceByName('uses-hello'))!.uuid);
  const layer = (JSON.parse((await h.registry.getManifest('hello', 'v1'))!.body.toString()) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
  const ok = await h.call('DELETE', '/v1/registry/images', { body: [{ name: 'hello', tag: 'v1' }], token: alice.token });
  assert.deepEqual(ok.items[0], { status: 'success', name: 'hello', tag: 'v1', digest: helloDigest });
  assert.equal(await h.registry.getManifest('hello', 'v1'), undefined);
  assert.equal(await h.registry.hasBlob(layer), false, 'gc removed the layer');
  const gone = await h.call('DELETE', '/v1/registry/images', { body: [{ name: 'hello', tag: 'v1' }] });
  assert.equal(gone.items[0]!['error'], 8);
});

test('GET /v1/registry/images: the control-plane listing, namespace filter, details=false', async () => {
  const r = await h.call('GET', '/v1/registry/images');
  assert.equal(r.status, 200);
  const uk = r.items.find((i) => i['name'] === 'apps/uk')!;
  const t = (uk['tags'] as Array<Record<string, unknown>>)[0]!;
  assert.equal(t['name'], 'latest');
  assert.equal(t['digest'], ukDigest);
  assert.ok(Number(t['size']) > 0);
  assert.ok(!Number.isNaN(Date.parse(String(t['push_time']))));
  const ns = await h.call('GET', '/v1/registry/images?namespace=library');
  assert.deepEqual(ns.items.map((i) => i['name']), ['library/app']);
  const short = await h.call('GET', '/v1/registry/images?details=false&namespace=roms');
  assert.deepEqual(short.items, [{ status: 'success', name: 'roms/site' }]);
});
