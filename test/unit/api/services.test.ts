import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { apiHarness } from './harness.js';

const h = apiHarness();
after(() => h.close());
const alice = h.addUser('alice');
const bob = h.addUser('bob');

type Obj = Record<string, unknown>;
const groups = (r: { json: { data?: Record<string, Obj[]> } }): Obj[] => r.json.data?.['service_groups'] ?? [];
const first = (r: { json: { data?: Record<string, Obj[]> } }): Obj => groups(r)[0]!;

test('POST creates a persistent group; defaults, fqdns and the instance list are shown', async () => {
  const r = await h.call('POST', '/v1/services', {
    token: alice,
    body: { name: 'web', services: [{ port: 443, destination_port: 8080, handlers: ['tls', 'http'] }, { port: 80, destination_port: 8080 }], domains: [{ name: 'web' }, { name: 'shop.example.com.' }], soft_limit: 5, hard_limit: 10 },
  });
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'success');
  const g = first(r);
  assert.equal(g['name'], 'web');
  assert.equal(g['persistent'], true);
  assert.match(String(g['uuid']), /^[0-9a-f-]{36}$/);
  assert.deepEqual(g['services'], [
    { port: 443, destination_port: 8080, protocol: 'tcp', handlers: ['tls', 'http'] },
    { port: 80, destination_port: 8080, protocol: 'tcp', handlers: ['http'] },
  ]);
  assert.deepEqual(g['domains'], [{ fqdn: 'web.localhost' }, { fqdn: 'shop.example.com' }]);
  assert.equal(g['soft_limit'], 5);
  assert.equal(g['hard_limit'], 10);
  assert.deepEqual(g['instances'], []);
});

test('bad input is a 400 naming the field, and nothing is created', async () => {
  const cases: Array<[Obj, RegExp]> = [
    [{ name: 'b1', services: [{ port: 80, handlers: ['tls'] }] }, /^services\[0\]\.handlers:/],
    [{ name: 'b2', services: [{ port: 443, handlers: ['tls'] }] }, /^services\[0\]\.handlers:/],
    [{ name: 'b3', services: [{ port: 8443, handlers: ['tls', 'redirect'] }] }, /^services\[0\]\.handlers:/],
    [{ name: 'b4', services: [{ port: 70000 }] }, /^services\[0\]\.port:/],
    [{ name: 'b5', services: [{ port: 443 }, { port: 443 }] }, /^services\[1\]\.port:/],
    [{ name: 'b6', services: [] }, /^services:/],
    [{ name: 'b7', services: [{ port: 443 }], domains: [{ name: 'bad_name' }] }, /^domains\[0\]\.name:/],
    [{ name: 'b8', services: [{ port: 443 }], soft_limit: 3, hard_limit: 2 }, /^soft_limit:/],
    [{ name: 'b9', services: [{ port: 443, destination_port: 0 }] }, /^services\[0\]\.destination_port:/],
    [{ name: 'b10', services: [{ port: 443 }], colour: 'red' }, /^colour:/],
    [{ name: 'b11', services: [{ port: '443' }] }, /^services\[0\]\.port:/],
  ];
  for (const [body, re] of cases) {
    const r = await h.call('POST', '/v1/services', { token: alice, body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.json.message ?? '', re);
  }
  const all = await h.call('GET', '/v1/services', { token: alice });
  assert.deepEqual(groups(all).map((g) => g['name']), ['web']);
});

test('a domain another group holds is refused with 409 naming it, without saying who holds it', async () => {
  const mine = await h.call('POST', '/v1/services', { token: alice, body: { name: 'web2', services: [{ port: 443 }], domains: [{ name: 'other' }, { name: 'web' }] } });
  assert.equal(mine.status, 409);
  assert.match(mine.json.message ?? '', /^domains\[1\]\.name:/);
  const theirs = await h.call('POST', '/v1/services', { token: bob, body: { name: 'bobweb', services: [{ port: 443 }], domains: [{ name: 'web.localhost.' }] } });
  assert.equal(theirs.status, 409);
  assert.match(theirs.json.message ?? '', /^domains\[0\]\.name:/);
  assert.doesNotMatch(theirs.json.message ?? '', /alice|web'?\s*group|service group 'web'/);
  const none = await h.call('GET', '/v1/services', { token: bob });
  assert.deepEqual(groups(none), []);
});

test('groups are per user: another user gets not found by name, uuid, list, patch and delete', async () => {
  const g = first(await h.call('GET', '/v1/services?name=web', { token: alice }));
  const uuid = String(g['uuid']);
  const byName = await h.call('GET', '/v1/services?name=web', { token: bob });
  assert.equal(byName.status, 200);
  assert.equal(first(byName)['error'], 8);
  const byUuid = await h.call('GET', `/v1/services/${uuid}`, { token: bob });
  assert.equal(first(byUuid)['error'], 8);
  assert.deepEqual(groups(await h.call('GET', '/v1/services', { token: bob })), []);
  const patch = await h.call('PATCH', `/v1/services/${uuid}`, { token: bob, body: { prop: 'soft_limit', op: 'set', value: 1 } });
  assert.equal(first(patch)['error'], 8);
  const del = await h.call('DELETE', '/v1/services', { token: bob, body: [{ uuid }] });
  assert.equal(first(del)['error'], 8);
  assert.equal(first(await h.call('GET', `/v1/services/${uuid}`, { token: alice }))['name'], 'web');
});

test('bulk create reports each item; list pages with count/from and order; details=false trims', async () => {
  const r = await h.call('POST', '/v1/services', { token: alice, body: [{ name: 'p1', services: [{ port: 443 }] }, { name: 'p2', services: [{ port: 80, handlers: ['tls'] }] }, { name: 'p3', services: [{ port: 9000 }] }] });
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'partial_success');
  assert.deepEqual(groups(r).map((e) => e['status']), ['success', 'error', 'success']);
  assert.equal(groups(r)[1]!['error'], 3);
  const names = groups(await h.call('GET', '/v1/services', { token: alice })).map((g) => g['name']);
  assert.deepEqual(names, ['web', 'p1', 'p3']);
  const page1 = groups(await h.call('GET', '/v1/services?count=2', { token: alice }));
  assert.deepEqual(page1.map((g) => g['name']), ['web', 'p1']);
  const page2 = groups(await h.call('GET', `/v1/services?count=2&from=${String(page1[1]!['uuid'])}`, { token: alice }));
  assert.deepEqual(page2.map((g) => g['name']), ['p3']);
  assert.deepEqual(groups(await h.call('GET', '/v1/services?order=desc', { token: alice })).map((g) => g['name']), ['p3', 'p1', 'web']);
  const slim = groups(await h.call('GET', '/v1/services?details=false', { token: alice }));
  assert.deepEqual(Object.keys(slim[0]!).sort(), ['name', 'status', 'uuid']);
  const both = groups(await h.call('GET', '/v1/services?name=p1&name=p3', { token: alice }));
  assert.deepEqual(both.map((g) => g['name']), ['p1', 'p3']);
});

test('PATCH services, domains and limits in the prop/op form (bulk and by uuid)', async () => {
  const g = first(await h.call('GET', '/v1/services?name=p1', { token: alice }));
  const uuid = String(g['uuid']);
  let r = await h.call('PATCH', '/v1/services', { token: alice, body: [{ name: 'p1', id: 'a', prop: 'services', op: 'add', value: { port: 80, destination_port: 8080, handlers: ['http', 'redirect'] } }] });
  assert.equal(first(r)['status'], 'success');
  assert.equal(first(r)['id'], 'a');
  r = await h.call('PATCH', `/v1/services/${uuid}`, { token: alice, body: { prop: 'domains', op: 'add', value: [{ name: 'p1' }] } });
  assert.equal(first(r)['status'], 'success');
  r = await h.call('PATCH', `/v1/services/${uuid}`, { token: alice, body: [{ prop: 'hard_limit', op: 'set', value: 8 }, { prop: 'soft_limit', op: 'set', value: 4 }] });
  assert.deepEqual(groups(r).map((e) => e['status']), ['success', 'success']);
  let now = first(await h.call('GET', `/v1/services/${uuid}`, { token: alice }));
  assert.deepEqual((now['services'] as Obj[]).map((s) => s['port']), [443, 80]);
  assert.deepEqual(now['domains'], [{ fqdn: 'p1.localhost' }]);
  assert.equal(now['soft_limit'], 4);
  assert.equal(now['hard_limit'], 8);

  r = await h.call('PATCH', `/v1/services/${uuid}`, { token: alice, body: { prop: 'services', op: 'del', value: 443 } });
  assert.equal(first(r)['status'], 'success');
  r = await h.call('PATCH', `/v1/services/${uuid}`, { token: alice, body: { prop: 'domains', op: 'del', value: 'p1' } });
  assert.equal(first(r)['status'], 'success');
  r = await h.call('PATCH', `/v1/services/${uuid}`, { token: alice, body: { prop: 'services', op: 'set', value: [{ port: 443 }, { port: 5432 }] } });
  assert.equal(first(r)['status'], 'success');
  now = first(await h.call('GET', `/v1/services/${uuid}`, { token: alice }));
  assert.deepEqual((now['services'] as Obj[]).map((s) => s['port']), [443, 5432]);
  assert.deepEqual(now['domains'], []);
});

test('PATCH refuses what the rules refuse, and the group is unchanged', async () => {
  const before = first(await h.call('GET', '/v1/services?name=p1', { token: alice }));
  const cases: Array<[Obj, RegExp]> = [
    [{ name: 'p1', prop: 'services', op: 'add', value: { port: 443 } }, /^value\[0\]\.port:/],
    [{ name: 'p1', prop: 'services', op: 'add', value: [{ port: 8000, handlers: ['http'] }] }, /^value\[0\]\.handlers:/],
    [{ name: 'p1', prop: 'services', op: 'del' }, /^value:/],
    [{ name: 'p1', prop: 'soft_limit', op: 'set', value: 9 }, /soft_limit/],
    [{ name: 'p1', prop: 'domains', op: 'add', value: { name: 'web' } }, /^value\[0\]\.name:/],
    [{ name: 'p1', prop: 'domains', op: 'add', value: { name: 'no way' } }, /^value\[0\]\.name:/],
  ];
  for (const [body, re] of cases) {
    const r = await h.call('PATCH', '/v1/services', { token: alice, body });
    assert.equal(first(r)['status'], 'error', JSON.stringify(body));
    assert.match(String(first(r)['message']), re, JSON.stringify(body));
  }
  const shape = await h.call('PATCH', '/v1/services', { token: alice, body: { name: 'p1', prop: 'services', op: 'add', value: { port: 'x' } } });
  assert.equal(shape.status, 400);
  assert.match(shape.json.message ?? '', /^value/);
  const prop = await h.call('PATCH', '/v1/services', { token: alice, body: { name: 'p1', prop: 'colour', op: 'set', value: 1 } });
  assert.equal(prop.status, 400);
  assert.match(prop.json.message ?? '', /^prop:/);
  assert.deepEqual(first(await h.call('GET', '/v1/services?name=p1', { token: alice })), before);
});

test('DELETE in bulk and by uuid; a deleted group frees its domains', async () => {
  const p3 = String(first(await h.call('GET', '/v1/services?name=p3', { token: alice }))['uuid']);
  const r = await h.call('DELETE', `/v1/services/${p3}`, { token: alice });
  assert.deepEqual(first(r), { status: 'success', uuid: p3, name: 'p3' });
  const bulk = await h.call('DELETE', '/v1/services', { token: alice, body: [{ name: 'p1' }, { name: 'ghost' }] });
  assert.deepEqual(groups(bulk).map((e) => e['status']), ['success', 'error']);
  assert.equal(groups(bulk)[1]!['error'], 8);
  assert.deepEqual(groups(await h.call('GET', '/v1/services', { token: alice })).map((g) => g['name']), ['web']);
  const taken = await h.call('POST', '/v1/services', { token: bob, body: { name: 'q', services: [{ port: 443 }], domains: [{ name: 'x1' }] } });
  assert.equal(taken.status, 200);
  assert.equal(first(await h.call('DELETE', '/v1/services', { token: bob, body: [{ name: 'q' }] }))['status'], 'success');
  const again = await h.call('POST', '/v1/services', { token: alice, body: { name: 'q2', services: [{ port: 443 }], domains: [{ name: 'x1' }] } });
  assert.equal(again.status, 200);
});

test('an instance joins an existing group by name or uuid and shows service_group; the group cannot be deleted while it has instances', async () => {
  const web = first(await h.call('GET', '/v1/services?name=web', { token: alice }));
  const r = await h.call('POST', '/v1/instances', { token: alice, body: { name: 'i1', image: 'hello:latest', autostart: false, service_group: { name: 'web' } } });
  assert.equal(r.status, 200);
  const inst = r.json.data!['instances']![0]!;
  assert.deepEqual(inst['service_group'], { uuid: web['uuid'], name: 'web', domains: [{ fqdn: 'web.localhost' }, { fqdn: 'shop.example.com' }] });
  const r2 = await h.call('POST', '/v1/instances', { token: alice, body: { name: 'i2', image: 'hello:latest', autostart: false, service_group: { uuid: web['uuid'] } } });
  assert.equal(r2.status, 200);
  const listed = first(await h.call('GET', '/v1/services?name=web', { token: alice }));
  assert.deepEqual((listed['instances'] as Obj[]).map((i) => i['name']), ['i1', 'i2']);
  const got = (await h.call('GET', '/v1/instances?name=i1', { token: alice })).json.data!['instances']![0]!;
  assert.equal((got['service_group'] as Obj)['name'], 'web');

  const del = await h.call('DELETE', '/v1/services', { token: alice, body: [{ name: 'web' }] });
  assert.equal(first(del)['status'], 'error');
  assert.equal(first(del)['error'], 9);
  await h.call('DELETE', '/v1/instances', { token: alice, body: [{ name: 'i1' }, { name: 'i2' }] });
  // A persistent group outlives its instances.
  const still = first(await h.call('GET', '/v1/services?name=web', { token: alice }));
  assert.deepEqual(still['instances'], []);
  assert.equal(first(await h.call('DELETE', '/v1/services', { token: alice, body: [{ name: 'web' }] }))['status'], 'success');
});

test("an instance cannot join another user's group", async () => {
  await h.call('POST', '/v1/services', { token: bob, body: { name: 'bobs', services: [{ port: 443 }] } });
  const r = await h.call('POST', '/v1/instances', { token: alice, body: { name: 'sneak', image: 'hello:latest', autostart: false, service_group: { name: 'bobs' } } });
  assert.equal(r.status, 400);
  assert.match(r.json.message ?? '', /^service_group: No service group with name 'bobs'/);
  assert.equal((await h.call('GET', '/v1/instances?name=sneak', { token: alice })).json.data!['instances']![0]!['error'], 8);
});

test('an inline service_group makes an ephemeral group with a generated name and domain, deleted with its last instance', async () => {
  const r = await h.call('POST', '/v1/instances', { token: alice, body: { name: 'eph', image: 'hello:latest', autostart: false, replicas: 1, service_group: { services: [{ port: 443, destination_port: 8080, handlers: ['tls', 'http'] }] } } });
  assert.equal(r.status, 200);
  const [a, b] = r.json.data!['instances']!;
  const sg = a!['service_group'] as { uuid: string; name: string; domains: Obj[] };
  assert.deepEqual(b!['service_group'], sg);
  assert.match(sg.name, /^[a-z]+-[a-z]+-[0-9a-f]{5}$/);
  assert.deepEqual(sg.domains, [{ fqdn: `${sg.name}.localhost` }]);
  const g = first(await h.call('GET', `/v1/services/${sg.uuid}`, { token: alice }));
  assert.equal(g['persistent'], false);
  assert.deepEqual((g['instances'] as Obj[]).map((i) => i['name']), ['eph', 'eph-1']);

  await h.call('DELETE', '/v1/instances', { token: alice, body: [{ name: 'eph' }] });
  assert.equal(first(await h.call('GET', `/v1/services/${sg.uuid}`, { token: alice }))['status'], 'success');
  await h.call('DELETE', '/v1/instances', { token: alice, body: [{ name: 'eph-1' }] });
  assert.equal(first(await h.call('GET', `/v1/services/${sg.uuid}`, { token: alice }))['error'], 8);
});

test('an inline group with domains uses them; a bad or taken inline group is refused with nothing made', async () => {
  const ok = await h.call('POST', '/v1/instances', { token: alice, body: { name: 'dom', image: 'hello:latest', autostart: false, service_group: { services: [{ port: 443 }], domains: [{ name: 'blog' }] } } });
  assert.deepEqual((ok.json.data!['instances']![0]!['service_group'] as Obj)['domains'], [{ fqdn: 'blog.localhost' }]);
  const cases: Array<[Obj, number, RegExp]> = [
    [{ services: [{ port: 80, handlers: ['tls'] }] }, 400, /^service_group\.services\[0\]\.handlers:/],
    [{ services: [{ port: 443 }], domains: [{ name: 'blog' }] }, 409, /^service_group\.domains\[0\]\.name:/],
    [{ services: [{ port: 443 }], soft_limit: 2, hard_limit: 1 }, 400, /^service_group\.soft_limit:/],
    [{ name: 'x', services: [{ port: 443 }] }, 400, /^service_group\.name:/],
    [{ domains: [{ name: 'a' }] }, 400, /^service_group\.services:/],
    [{ services: [{ port: 443, extra: 1 }] }, 400, /^service_group\.services\[0\]\.extra:/],
  ];
  for (const [sg, status, re] of cases) {
    const r = await h.call('POST', '/v1/instances', { token: bob, body: { name: 'nope', image: 'hello:latest', autostart: false, service_group: sg } });
    assert.equal(r.status, status, JSON.stringify(sg));
    assert.match(r.json.message ?? '', re, JSON.stringify(sg));
  }
  assert.equal((await h.call('GET', '/v1/instances?name=nope', { token: bob })).json.data!['instances']![0]!['error'], 8);
  assert.deepEqual(groups(await h.call('GET', '/v1/services', { token: bob })).map((g) => g['name']), ['bobs']);
});

test('a name given as a path uuid is refused', async () => {
  const r = await h.call('GET', '/v1/services/web', { token: alice });
  assert.equal(r.status, 400);
  assert.match(r.json.message ?? '', /Invalid uuid 'web'/);
});
