import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Instance } from '../../../src/core/instance.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { tempDir } from '../../helpers/temp.js';

const inst = (name: string, patch: Partial<Instance> = {}): Instance => ({
  uuid: crypto.randomUUID(), name, owner: 'u1', createdAt: new Date().toISOString(), state: 'stopped', image: 'a', imageDigest: 'sha256:0',
  memoryMb: 64, vcpus: 1, restartPolicy: 'never', features: [], tags: [], hostname: name, deleteLock: false, startCount: 0, restartCount: 0, uptimeMs: 0, ...patch,
});

test('a unit of work commits when fn resolves and rolls back when it rejects', async () => {
  const store = new SqliteStore(':memory:');
  const a = inst('a');
  const b = inst('b');
  await store.unitOfWork(async (tx) => {
    await tx.insertInstance(a);
  });
  await assert.rejects(store.unitOfWork(async (tx) => {
    await tx.insertInstance(b);
    assert.ok(await tx.getInstance(b.uuid), 'the unit sees its own writes');
    throw new Error('boom');
  }), /boom/);
  assert.ok(await store.getInstance(a.uuid));
  assert.equal(await store.getInstance(b.uuid), undefined);
  store.close();
});

test('a call made while a unit is open waits for it, and is not rolled back with it', async () => {
  const store = new SqliteStore(':memory:');
  const a = inst('a');
  const c = inst('c');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const unit = store.unitOfWork(async (tx) => {
    await tx.insertInstance(a);
    entered();
    await gate;
    throw new Error('rolled back');
  });
  await inside;
  const outside = store.insertInstance(c);
  let read = false;
  const seen = store.getInstance(a.uuid).then((v) => ((read = true), v));
  await new Promise((r) => setImmediate(r));
  assert.equal(read, false, 'reads wait for the open unit');
  release();
  await assert.rejects(unit, /rolled back/);
  await outside;
  assert.equal(await seen, undefined);
  assert.ok(await store.getInstance(c.uuid));
  store.close();
});

test('units run one at a time, in call order', async () => {
  const store = new SqliteStore(':memory:');
  const order: string[] = [];
  await Promise.all(['x', 'y', 'z'].map((n) => store.unitOfWork(async (tx) => {
    order.push(`${n}<`);
    await new Promise((r) => setImmediate(r));
    await tx.insertInstance(inst(n));
    order.push(`>${n}`);
  })));
  assert.deepEqual(order, ['x<', '>x', 'y<', '>y', 'z<', '>z']);
  store.close();
});

test('instances record their node; records without one are adopted, durably', async () => {
  const file = join(tempDir('hangar-store-'), 'state.db');
  let store = new SqliteStore(file);
  const mine = inst('mine', { node: 'n1' });
  const theirs = inst('theirs', { node: 'n2' });
  const legacy = inst('legacy');
  for (const i of [mine, theirs, legacy]) await store.insertInstance(i);
  assert.deepEqual((await store.nodeInstances('n1')).map((i) => i.name), ['mine']);
  assert.equal(await store.adoptUnowned('n1'), 1);
  assert.equal(await store.adoptUnowned('n1'), 0);
  store.close();
  store = new SqliteStore(file);
  assert.deepEqual((await store.nodeInstances('n1')).map((i) => i.name), ['mine', 'legacy']);
  assert.deepEqual((await store.nodeInstances('n2')).map((i) => i.name), ['theirs']);
  assert.equal((await store.getInstance(legacy.uuid))!.node, 'n1');
  assert.equal((await store.allInstances()).length, 3);
  store.close();
});
