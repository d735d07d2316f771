import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { Instance } from '../../../src/core/instance.js';
import type { ServiceGroup } from '../../../src/core/services/group.js';
import { HangarError } from '../../../src/lib/errors.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { tempDir } from '../../helpers/temp.js';

const dbPath = (): string => join(tempDir('hangar-sg-'), 'state.db');

function group(n: number, over: Partial<ServiceGroup> = {}): ServiceGroup {
  return {
    uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, name: `g${n}`, owner: 'alice', createdAt: '2026-01-01T00:00:00.000Z', persistent: true,
    services: [{ port: 443, destinationPort: 8080, handlers: ['tls', 'http'] }], domains: [{ fqdn: `g${n}.localhost` }], softLimit: 1, hardLimit: 65535, ...over,
  };
}

function inst(n: number, serviceGroup?: string): Instance {
  return {
    uuid: `10000000-0000-4000-8000-${String(n).padStart(12, '0')}`, name: `i${n}`, owner: 'alice', node: 'n1', createdAt: '2026-01-01T00:00:00Z', state: 'stopped',
    image: 'x', imageDigest: 'sha256:0', memoryMb: 64, vcpus: 1, restartPolicy: 'never', features: [], tags: [], hostname: `i${n}`, deleteLock: false,
    startCount: 0, restartCount: 0, uptimeMs: 0, ...(serviceGroup ? { serviceGroup } : {}),
  };
}

test('groups and their domains survive a restart (a new store on the same file)', async () => {
  const path = dbPath();
  const a = new SqliteStore(path);
  await a.insertServiceGroup(group(1, { domains: [{ fqdn: 'a.localhost' }, { fqdn: 'shop.example.com' }] }));
  a.close();
  const b = new SqliteStore(path);
  try {
    assert.deepEqual(await b.getServiceGroupByName('g1'), group(1, { domains: [{ fqdn: 'a.localhost' }, { fqdn: 'shop.example.com' }] }));
    assert.deepEqual(await b.takenDomains(['shop.example.com', 'free.localhost']), ['shop.example.com']);
  } finally {
    b.close();
  }
});

test('a database made before service groups gains their tables on open, keeping its instances', async () => {
  const path = dbPath();
  const old = new Database(path);
  old.exec('CREATE TABLE instances (seq INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, doc TEXT NOT NULL)');
  old.prepare('INSERT INTO instances (uuid, name, owner, doc) VALUES (?, ?, ?, ?)').run(inst(1).uuid, 'i1', 'alice', JSON.stringify(inst(1)));
  old.close();
  const s = new SqliteStore(path);
  try {
    assert.equal((await s.getInstance(inst(1).uuid))?.name, 'i1');
    await s.insertServiceGroup(group(2));
    assert.equal((await s.getServiceGroup(group(2).uuid))?.name, 'g2');
  } finally {
    s.close();
  }
});

test('a domain is held by one group: the fqdn key refuses a second holder, naming the domain index', async () => {
  const s = new SqliteStore(':memory:');
  await s.insertServiceGroup(group(1));
  await assert.rejects(s.insertServiceGroup(group(2, { owner: 'bob', domains: [{ fqdn: 'x.localhost' }, { fqdn: 'g1.localhost' }] })), (e: unknown) => e instanceof HangarError && e.kind === 'already_exists' && e.field === 'domains[1].name' && !/alice/.test(e.message));
  // Nothing of the refused group was kept.
  assert.equal(await s.getServiceGroup(group(2).uuid), undefined);
  assert.deepEqual(await s.takenDomains(['x.localhost']), []);
  await assert.rejects(s.insertServiceGroup(group(3, { name: 'g1', domains: [] })), (e: unknown) => e instanceof HangarError && e.field === 'name');
  // An update rewrites the group's domains and frees the dropped ones.
  await s.updateServiceGroup(group(1, { domains: [{ fqdn: 'new.localhost' }] }));
  assert.deepEqual(await s.takenDomains(['g1.localhost', 'new.localhost']), ['new.localhost']);
  assert.deepEqual(await s.takenDomains(['new.localhost'], group(1).uuid), []);
  s.close();
});

test('list pages per owner with an exclusive cursor, in either order', async () => {
  const s = new SqliteStore(':memory:');
  for (let i = 1; i <= 5; i++) await s.insertServiceGroup(group(i, { owner: i === 3 ? 'bob' : 'alice' }));
  const names = (l: ServiceGroup[]) => l.map((g) => g.name);
  assert.deepEqual(names(await s.listServiceGroups({ owner: 'alice', count: 0, order: 'asc' })), ['g1', 'g2', 'g4', 'g5']);
  assert.deepEqual(names(await s.listServiceGroups({ owner: 'alice', count: 2, order: 'asc', after: group(2).uuid })), ['g4', 'g5']);
  assert.deepEqual(names(await s.listServiceGroups({ owner: 'alice', count: 0, order: 'desc', after: group(4).uuid })), ['g2', 'g1']);
  assert.deepEqual(names(await s.listServiceGroups({ owner: 'alice', count: 0, order: 'asc', after: group(3).uuid })), []);
  s.close();
});

test('deleting the last instance of an ephemeral group deletes the group and frees its domains; persistent groups stay', async () => {
  const s = new SqliteStore(':memory:');
  const eph = group(1, { persistent: false });
  const keep = group(2);
  await s.insertServiceGroup(eph);
  await s.insertServiceGroup(keep);
  await s.insertInstance(inst(1, eph.uuid));
  await s.insertInstance(inst(2, eph.uuid));
  await s.insertInstance(inst(3, keep.uuid));
  assert.deepEqual((await s.groupMembers(eph.uuid)).map((m) => m.name), ['i1', 'i2']);
  await s.deleteInstance(inst(1).uuid);
  assert.ok(await s.getServiceGroup(eph.uuid));
  await s.deleteInstance(inst(2).uuid);
  assert.equal(await s.getServiceGroup(eph.uuid), undefined);
  assert.deepEqual(await s.takenDomains(['g1.localhost']), []);
  await s.deleteInstance(inst(3).uuid);
  assert.ok(await s.getServiceGroup(keep.uuid));
  s.close();
});

test('inside a unit of work, a rolled-back group insert leaves nothing', async () => {
  const s = new SqliteStore(':memory:');
  await assert.rejects(s.unitOfWork(async (tx) => {
    await tx.insertServiceGroup(group(1));
    throw new Error('later check failed');
  }));
  assert.equal(await s.getServiceGroup(group(1).uuid), undefined);
  assert.deepEqual(await s.takenDomains(['g1.localhost']), []);
  s.close();
});
