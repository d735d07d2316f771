/**
 * Issue 8 point 5 on a real node: per-user quotas (live memory, vCPUs,
 * instances, registry bytes) refused with a 429 naming the quota, at create
 * and at start, concurrent starts never overshooting; the node's capacity
 * (host memory × overcommit) refused with a 503 for everyone; and
 * /v1/users/quotas reporting both.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { apiClient, startTestNode, testConfig, type TestNode } from '../../helpers/node.js';

let n: TestNode;
let userApi: ReturnType<typeof apiClient>;
let userToken = '';
const USER = 'quota-user';

before(async () => {
  const base = testConfig();
  const capacityMb = 700; // node capacity, through the overcommit ratio of this host's memory
  const totalMb = (await import('node:os')).totalmem() / (1024 * 1024);
  n = await startTestNode({
    ...base,
    quotas: { instances: 6, liveMemoryMb: 256, liveVcpus: 2, registryBytes: 1024 * 1024 },
    overcommit: { memory: capacityMb / totalMb, cpu: 128 },
  });
  const u = await n.api('POST', '/v1/users', { name: USER });
  assert.equal(u.status, 200, JSON.stringify(u.json));
  userToken = String(u.items[0]!['token']);
  userApi = apiClient(n.url, userToken);
});

after(async () => {
  await n?.close();
});

const create = (body: Record<string, unknown>) => userApi('POST', '/v1/instances', { image: 'hello:latest', memory_mb: 128, ...body });

test('a user over the live-memory or vCPU quota gets a 429 naming it, at create and at start; admins are not bound by it', async () => {
  const a = await create({ name: 'q-a', autostart: true });
  assert.equal(a.status, 200, JSON.stringify(a.json));
  const big = await create({ name: 'q-big', memory_mb: 256, autostart: true });
  assert.equal(big.status, 429, JSON.stringify(big.json));
  assert.match(String(big.json.message ?? big.items[0]?.['message']), /live_memory_mb/);
  assert.equal((await userApi('GET', '/v1/instances?name=q-big')).items[0]!['status'], 'error', 'nothing is left of a refused create');

  const cpu = await create({ name: 'q-cpu', vcpus: 2, autostart: true });
  assert.equal(cpu.status, 429, JSON.stringify(cpu.json));
  assert.match(JSON.stringify(cpu.json), /live_vcpus/);

  const later = await create({ name: 'q-later', memory_mb: 256, autostart: false });
  assert.equal(later.status, 200, 'a stopped instance takes no live quota');
  const st = await userApi('PUT', '/v1/instances/start', [{ name: 'q-later' }]);
  assert.equal(st.items[0]!['status'], 'error', JSON.stringify(st.json));
  assert.match(String(st.items[0]!['message']), /quota exceeded: live_memory_mb/);
  assert.equal((await userApi('GET', '/v1/instances?name=q-later')).items[0]!['state'], 'stopped');

  const q = (await userApi('GET', '/v1/users/quotas')).items[0]!;
  assert.deepEqual(
    { used: (q['used'] as Record<string, number>)['live_memory_mb'], hard: (q['hard'] as Record<string, number>)['live_memory_mb'], vcpus: (q['hard'] as Record<string, number>)['live_vcpus'] },
    { used: 128, hard: 256, vcpus: 2 },
  );
  const admin = await n.api('POST', '/v1/instances', { name: 'q-admin', image: 'hello:latest', memory_mb: 300, autostart: true });
  assert.equal(admin.status, 200, JSON.stringify(admin.json));
  await n.api('DELETE', '/v1/instances', [{ name: 'q-admin' }]);
  await userApi('DELETE', '/v1/instances', [{ name: 'q-a' }, { name: 'q-later' }]);
});

test('concurrent starts never overshoot the quota; the instance count is bounded too', async () => {
  const names = ['q-c1', 'q-c2', 'q-c3', 'q-c4'];
  for (const name of names) assert.equal((await create({ name, autostart: false })).status, 200);
  const results = await Promise.all(names.map((name) => userApi('PUT', '/v1/instances/start', [{ name }])));
  const ok = results.filter((r) => r.items[0]!['status'] === 'success').length;
  assert.equal(ok, 2, `exactly 256 MB of 128 MB instances start: ${JSON.stringify(results.map((r) => r.items[0]))}`);
  const q = (await userApi('GET', '/v1/users/quotas')).items[0]!;
  assert.equal((q['used'] as Record<string, number>)['live_memory_mb'], 256);

  assert.equal((await create({ name: 'q-c5', autostart: false })).status, 200);
  assert.equal((await create({ name: 'q-c6', autostart: false })).status, 200);
  const seventh = await create({ name: 'q-c7', autostart: false });
  assert.equal(seventh.status, 429, JSON.stringify(seventh.json));
  assert.match(JSON.stringify(seventh.json), /quota exceeded: instances/);
  await userApi('DELETE', '/v1/instances', [...names, 'q-c5', 'q-c6'].map((name) => ({ name })));
});

test('a full node answers 503 naming the resource, for the admin too', async () => {
  const first = await n.api('POST', '/v1/instances', { name: 'q-n1', image: 'hello:latest', memory_mb: 512, autostart: true });
  assert.equal(first.status, 200, JSON.stringify(first.json));
  const second = await n.api('POST', '/v1/instances', { name: 'q-n2', image: 'hello:latest', memory_mb: 512, autostart: true });
  assert.equal(second.status, 503, JSON.stringify(second.json));
  assert.match(JSON.stringify(second.json), /node full: memory/);
  await n.api('DELETE', '/v1/instances', [{ name: 'q-n1' }]);
});

test('pushing past the registry quota is refused with 429 while the bytes arrive', async () => {
  const auth = { authorization: `Basic ${Buffer.from(`${USER}:${userToken}`).toString('base64')}` };
  const upload = async (bytes: number): Promise<Response> => {
    const start = await fetch(`${n.url}/v2/${USER}/blob-test/blobs/uploads/`, { method: 'POST', headers: auth });
    assert.equal(start.status, 202);
    const loc = new URL(start.headers.get('location')!, n.url);
    return fetch(loc, { method: 'PATCH', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(bytes, 7) });
  };
  const small = await upload(200 * 1024);
  assert.equal(small.status, 202, await small.text());
  const big = await upload(2 * 1024 * 1024);
  assert.equal(big.status, 429, 'the registry quota');
  assert.match(await big.text(), /registry_bytes/);
  const q = (await userApi('GET', '/v1/users/quotas')).items[0]!;
  assert.equal((q['hard'] as Record<string, number>)['registry_bytes'], 1024 * 1024);
  assert.ok((q['used'] as Record<string, number>)['registry_bytes']! >= 200 * 1024);
});

test('the registry quota counts what the user stores: after a delete the next push fits again', async () => {
  const auth = { authorization: `Basic ${Buffer.from(`${USER}:${userToken}`).toString('base64')}` };
  const repo = `${USER}/fits-one`;
  const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const putBlob = async (b: Buffer): Promise<number> => {
    const r = await fetch(`${n.url}/v2/${repo}/blobs/uploads/?digest=${sha(b)}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: new Uint8Array(b) });
    await r.arrayBuffer();
    return r.status;
  };
  /** Pushes an image of one layer; returns the manifest PUT's status (or the first failed blob's) and its digest. */
  const push = async (tag: string, layer: Buffer): Promise<{ status: number; digest: string }> => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
    for (const b of [config, layer]) {
      const s = await putBlob(b);
      if (s !== 201) return { status: s, digest: '' };
    }
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
    }));
    const r = await fetch(`${n.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: new Uint8Array(manifest) });
    await r.arrayBuffer();
    return { status: r.status, digest: sha(manifest) };
  };
  const used = async (): Promise<number> => ((await userApi('GET', '/v1/users/quotas')).items[0]!['used'] as Record<string, number>)['registry_bytes']!;
  // Room for one such layer, not two, whatever earlier tests left in open upload sessions.
  const room = 1024 * 1024 - (await used());
  const size = Math.floor(room * 0.6);
  assert.ok(size > 64 * 1024, `room left: ${room}`);
  const first = await push('1', randomBytes(size));
  assert.equal(first.status, 201, 'the first image fits');
  assert.ok((await used()) >= size, 'and counts');
  const second = randomBytes(size);
  assert.equal((await push('2', second)).status, 429, 'a second one does not fit beside it');
  const del = await fetch(`${n.url}/v2/${repo}/manifests/${first.digest}`, { method: 'DELETE', headers: auth });
  assert.equal(del.status, 202, await del.text());
  assert.ok((await used()) < size, 'the deleted image no longer counts');
  assert.equal((await push('2', second)).status, 201, 'after the delete it fits');
});
