import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceGroup } from '../../../src/core/services/group.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { fakeLifecycle } from '../../helpers/core-fakes.js';

const group = (persistent: boolean): ServiceGroup => ({
  uuid: '20000000-0000-4000-8000-000000000001', name: 'eph', owner: 'u1', createdAt: '2026-01-01T00:00:00.000Z', persistent,
  services: [{ port: 443, destinationPort: 8080, handlers: ['tls', 'http'] }], domains: [{ fqdn: 'eph.localhost' }], softLimit: 1, hardLimit: 65535,
});

test('a delete-on-stop instance that exits takes its ephemeral group (and its domain) with it', async () => {
  const store = new SqliteStore(':memory:');
  const h = fakeLifecycle({ store });
  await store.insertServiceGroup(group(false));
  const inst = await h.running({ features: ['delete-on-stop'], serviceGroup: group(false).uuid });
  assert.ok(await store.getServiceGroup(group(false).uuid));
  h.runtime.exit(inst.uuid, { exitCode: 0 });
  await h.clock.advance(0);
  assert.equal(await store.getInstance(inst.uuid), undefined);
  assert.equal(await store.getServiceGroup(group(false).uuid), undefined);
  assert.deepEqual(await store.takenDomains(['eph.localhost']), []);
  h.lifecycle.close();
  store.close();
});

test('a persistent group stays when its delete-on-stop instance goes', async () => {
  const store = new SqliteStore(':memory:');
  const h = fakeLifecycle({ store });
  await store.insertServiceGroup(group(true));
  const inst = await h.running({ features: ['delete-on-stop'], serviceGroup: group(true).uuid });
  h.runtime.exit(inst.uuid, { exitCode: 0 });
  await h.clock.advance(0);
  assert.equal(await store.getInstance(inst.uuid), undefined);
  assert.equal((await store.getServiceGroup(group(true).uuid))?.name, 'eph');
  h.lifecycle.close();
  store.close();
});
