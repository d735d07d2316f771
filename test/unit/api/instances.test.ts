import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { apiHarness } from './harness.js';

const h = apiHarness();
after(() => h.close());

test('create (autostart off) returns the full instance in the envelope', async () => {
  const r = await h.call('POST', '/v1/instances', { body: { name: 'web', image: 'hello:latest', autostart: false, tags: ['t1'] } });
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'success');
  const inst = r.json.data!['instances']![0]!;
  assert.equal(inst['name'], 'web');
  assert.equal(inst['state'], 'stopped');
  assert.equal(inst['memory_mb'], 128);
  assert.equal(inst['vcpus'], 1);
  assert.equal(inst['restart_policy'], 'never');
  assert.equal(inst['private_fqdn'], 'web.internal');
  assert.match(String(inst['uuid']), /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(String(inst['created_at']))));
});

test('duplicate names are refused with 409 naming the field', async () => {
  const r = await h.call('POST', '/v1/instances', { body: { name: 'web', image: 'hello:latest', autostart: false } });
  assert.equal(r.status, 409);
  assert.match(r.json.message ?? '', /name/);
});

test('get by name (query) and by uuid (path); details=false trims', async () => {
  const byName = await h.call('GET', '/v1/instances?name=web&details=true');
  const inst = byName.json.data!['instances']![0]!;
  const byUuid = await h.call('GET', `/v1/instances/${String(inst['uuid'])}?details=false`);
  assert.deepEqual(Object.keys(byUuid.json.data!['instances']![0]!).sort(), ['name', 'status', 'uuid']);
});

test('unknown refs are in-band error entries with error 8 and HTTP 200', async () => {
  const r = await h.call('GET', '/v1/instances?name=web&name=ghost');
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'partial_success');
  assert.equal(r.json.message, 'Failed to perform all operations');
  const [ok, missing] = r.json.data!['instances']!;
  assert.equal(ok!['status'], 'success');
  assert.equal(missing!['status'], 'error');
  assert.equal(missing!['error'], 8);
  assert.equal(missing!['name'], 'ghost');
  const all = await h.call('DELETE', '/v1/instances', { body: [{ name: 'ghost' }] });
  assert.equal(all.json.status, 'error');
});

test('paging: exclusive from, count, order desc, over 250 instances', async () => {
  const names: string[] = [];
  for (let i = 0; i < 250; i++) names.push(`p-${String(i).padStart(3, '0')}`);
  const bulk = await h.call('POST', '/v1/instances', { body: names.map((name) => ({ name, image: 'hello:latest', autostart: false, tags: ['paged'] })) });
  assert.equal(bulk.json.data!['instances']!.length, 250);
  const seen: string[] = [];
  let from: string | undefined;
  for (;;) {
    const r = await h.call('GET', `/v1/instances?tags=paged&count=100${from ? `&from=${from}` : ''}`);
    const page = r.json.data!['instances']!;
    seen.push(...page.map((i) => String(i['name'])));
    if (page.length < 100) break;
    from = String(page[page.length - 1]!['uuid']);
  }
  assert.deepEqual(seen, names, 'every instance once, in creation order');
  const desc = await h.call('GET', '/v1/instances?tags=paged&count=3&order=desc');
  assert.deepEqual(desc.json.data!['instances']!.map((i) => i['name']), ['p-249', 'p-248', 'p-247']);
});

test('GET with a JSON body filters like the go-sdk sends (via the server wrapper; here as query)', async () => {
  const r = await h.call('GET', '/v1/instances?name=p-001&name=p-002&details=false');
  assert.deepEqual(r.json.data!['instances']!.map((i) => i['name']), ['p-001', 'p-002']);
});

test('users see only their own instances', async () => {
  const other = h.addUser('bob');
  const list = await h.call('GET', '/v1/instances', { token: other });
  assert.equal(list.json.data!['instances']!.length, 0);
  const peek = await h.call('GET', '/v1/instances?name=web', { token: other });
  assert.equal(peek.json.data!['instances']![0]!['error'], 8);
  const del = await h.call('DELETE', '/v1/instances', { token: other, body: [{ name: 'web' }] });
  assert.equal(del.json.data!['instances']![0]!['error'], 8);
  const still = await h.call('GET', '/v1/instances?name=web');
  assert.equal(still.json.data!['instances']![0]!['status'], 'success');
  const addUser = await h.call('POST', '/v1/users', { token: other, body: { name: 'mallory' } });
  assert.equal(addUser.status, 403);
});

test('update: PATCH bulk sets memory and tags; bad value is an in-band error naming value', async () => {
  const r = await h.call('PATCH', '/v1/instances', { body: [{ name: 'web', prop: 'memory_mb', op: 'set', value: 256 }, { name: 'web', prop: 'tags', op: 'add', value: ['x'], id: 'k1' }] });
  assert.equal(r.json.status, 'success');
  assert.equal(r.json.data!['instances']![1]!['id'], 'k1');
  const got = await h.call('GET', '/v1/instances?name=web');
  assert.equal(got.json.data!['instances']![0]!['memory_mb'], 256);
  assert.deepEqual(got.json.data!['instances']![0]!['tags'], ['t1', 'x']);
  const bad = await h.call('PATCH', '/v1/instances', { body: [{ name: 'web', prop: 'memory_mb', op: 'set', value: 'big' }] });
  assert.equal(bad.json.status, 'error');
  assert.match(String(bad.json.data!['instances']![0]!['message']), /value/);
});

test('delete returns previous_state and removes the record; delete_lock blocks it', async () => {
  await h.call('PATCH', '/v1/instances', { body: [{ name: 'web', prop: 'delete_lock', op: 'set', value: true }] });
  const locked = await h.call('DELETE', '/v1/instances', { body: [{ name: 'web' }] });
  assert.equal(locked.json.data!['instances']![0]!['status'], 'error');
  await h.call('PATCH', '/v1/instances', { body: [{ name: 'web', prop: 'delete_lock', op: 'set', value: false }] });
  const r = await h.call('DELETE', '/v1/instances', { body: [{ name: 'web' }] });
  assert.equal(r.json.data!['instances']![0]!['previous_state'], 'stopped');
  const gone = await h.call('GET', '/v1/instances?name=web');
  assert.equal(gone.json.data!['instances']![0]!['error'], 8);
});

test('quotas, healthz and metros', async () => {
  const q = await h.call('GET', '/v1/users/quotas');
  const entry = q.json.data!['quotas']![0]!;
  assert.equal((entry['used'] as Record<string, number>)['instances'], 250);
  assert.equal((entry['limits'] as Record<string, number>)['min_memory_mb'], 16);
  const health = await h.call('GET', '/v1/healthz', { auth: '' });
  assert.equal(health.status, 200);
  const metros = await h.call('GET', '/v1/metros', { auth: '' });
  assert.equal((metros.json.data!['metros']![0]!)['endpoint'], 'http://127.0.0.1:0');
});

test('wait with timeout 0 on a stopped instance reports a timeout in-band', async () => {
  const r = await h.call('GET', '/v1/instances/wait?name=p-000&state=running&timeout_s=0');
  assert.equal(r.json.status, 'error');
  assert.equal(r.json.data!['instances']![0]!['error'], 4);
  const ok = await h.call('GET', '/v1/instances/wait?name=p-000&state=stopped&timeout_s=0');
  assert.equal(ok.json.data!['instances']![0]!['state'], 'stopped');
});

test('logs of an instance that never ran are empty with ranges', async () => {
  const r = await h.call('GET', '/v1/instances/log?name=p-000&offset=-4096');
  const e = r.json.data!['instances']![0]!;
  assert.equal(e['output'], '');
  assert.deepEqual(e['available'], { start: 0, end: 0 });
});
