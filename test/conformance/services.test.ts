/**
 * Conformance: the real, unmodified `@unikraft/cloud` SDK drives service
 * groups on a real hangar node (`ukc.services`, porcelain only, as the SDK's
 * resources call bulk endpoints), and instance creates that name a group or
 * define one inline. The answers are typed by the SDK's own models (tsc) and
 * their required fields are checked at run time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { UnikraftCloud, UnikraftCloudError } from '@unikraft/cloud';
import type { models } from '@unikraft/cloud/api/platform';
import { startTestNode, type TestNode } from '../helpers/node.js';

let n: TestNode;
let ukc: UnikraftCloud;

before(async () => {
  n = await startTestNode();
  ukc = new UnikraftCloud({ metro: n.url, token: n.token, proxyFromEnv: false });
});

after(async () => {
  await n?.close();
});

/** Every field models.ServiceGroup requires, with its type. */
function conformingGroup(g: models.ServiceGroup): void {
  for (const k of ['uuid', 'name', 'created_at'] as const) assert.equal(typeof g[k], 'string', k);
  for (const k of ['persistent', 'autoscale'] as const) assert.equal(typeof g[k], 'boolean', k);
  for (const k of ['soft_limit', 'hard_limit'] as const) assert.ok(Number.isInteger(g[k]), k);
}

test('create, get, list, update, edit and delete a group through ukc.services', async () => {
  const created: models.ServiceGroup = await ukc.services.create({ name: 'sdkweb', services: [{ port: 443, destination_port: 8080, handlers: ['tls', 'http'] }], domains: [{ name: 'sdkweb' }] });
  conformingGroup(created);
  assert.equal(created.persistent, true);
  assert.deepEqual(created.domains?.map((d) => d.fqdn), ['sdkweb.localhost']);

  const byName = await ukc.services.get({ name: 'sdkweb' });
  const byUuid = await ukc.services.get({ uuid: created.uuid });
  assert.equal(byName.uuid, created.uuid);
  assert.equal(byUuid.name, 'sdkweb');

  const listed: string[] = [];
  for await (const g of ukc.services.list()) listed.push(g.name);
  assert.deepEqual(listed, ['sdkweb']);

  await ukc.services.update({ name: 'sdkweb' }, { soft_limit: 3, hard_limit: 9 });
  await ukc.services.edit({ name: 'sdkweb' }).add({ services: [{ port: 80, destination_port: 8080, handlers: ['http', 'redirect'] }], domains: [{ name: 'also.example.com.' }] }).apply();
  const now = await ukc.services.get({ uuid: created.uuid });
  assert.equal(now.soft_limit, 3);
  assert.equal(now.hard_limit, 9);
  assert.deepEqual(now.services?.map((s) => s.port), [443, 80]);
  assert.deepEqual(now.domains?.map((d) => d.fqdn), ['sdkweb.localhost', 'also.example.com']);

  const deleted = await ukc.services.delete({ name: 'sdkweb' });
  assert.equal(deleted[0]?.uuid, created.uuid);
  await assert.rejects(async () => ukc.services.get({ name: 'sdkweb' }), (e: unknown) => e instanceof UnikraftCloudError && e.status === 404);
});

test('bad handlers reject with a 400 naming the field; nothing is created', async () => {
  await assert.rejects(
    async () => ukc.services.create({ name: 'bad', services: [{ port: 80, handlers: ['tls'] }] }),
    (e: unknown) => e instanceof UnikraftCloudError && e.status === 400 && /services\[0\]\.handlers/.test(e.message),
  );
  const listed: string[] = [];
  for await (const g of ukc.services.list()) listed.push(g.name);
  assert.deepEqual(listed, []);
});

test('an instance with an inline service_group shows it, and its ephemeral group goes with it', async () => {
  const inst: models.Instance = await ukc.instances.create({ name: 'pub', image: 'hello:latest', autostart: false, service_group: { services: [{ port: 443, destination_port: 8080, handlers: ['tls', 'http'] }] } });
  const sg = inst.service_group;
  assert.ok(sg, 'service_group is shown');
  assert.equal(typeof sg.uuid, 'string');
  assert.deepEqual(sg.domains?.map((d) => d.fqdn), [`${sg.name}.localhost`]);
  const group = await ukc.services.get({ uuid: sg.uuid });
  assert.equal(group.persistent, false);
  assert.deepEqual(group.instances?.map((i) => i.name), ['pub']);
  await ukc.instances.delete({ name: 'pub' });
  await assert.rejects(async () => ukc.services.get({ uuid: sg.uuid }), (e: unknown) => e instanceof UnikraftCloudError && e.status === 404);
});

test('an instance joins an existing group by name', async () => {
  const g = await ukc.services.create({ name: 'shared', services: [{ port: 443, destination_port: 8080 }] });
  const inst = await ukc.instances.create({ name: 'member', image: 'hello:latest', autostart: false, service_group: { name: 'shared' } });
  assert.equal(inst.service_group?.uuid, g.uuid);
  await assert.rejects(ukc.services.delete({ name: 'shared' }), (e: unknown) => e instanceof UnikraftCloudError);
  await ukc.instances.delete({ name: 'member' });
  await ukc.services.delete({ name: 'shared' });
});
