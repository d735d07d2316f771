import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admission } from '../../../src/core/instances/admission.js';
import type { Instance } from '../../../src/core/instance.js';
import { HangarError } from '../../../src/lib/errors.js';
import { MemoryStore } from '../../helpers/core-fakes.js';

const quotas = { instances: 3, liveMemoryMb: 512, liveVcpus: 2, registryBytes: 1000 };
const user = { uuid: 'u1', name: 'u1', admin: false, createdAt: '2026-01-01T00:00:00Z' };
const admin = { uuid: 'a1', name: 'admin', admin: true, createdAt: '2026-01-01T00:00:00Z' };

function inst(uuid: string, owner: string, state: Instance['state'], memoryMb: number, vcpus = 1): Instance {
  return {
    uuid, name: uuid, owner, node: 'n1', createdAt: '2026-01-01T00:00:00Z', state, image: 'x', imageDigest: 'sha256:0', memoryMb, vcpus,
    restartPolicy: 'never', features: [], tags: [], hostname: uuid, deleteLock: false, startCount: 0, restartCount: 0, uptimeMs: 0,
  } as Instance;
}

const kind = (k: string, re: RegExp) => (e: unknown) => e instanceof HangarError && e.kind === k && re.test(e.message);

async function setUp(): Promise<{ store: MemoryStore; a: Admission }> {
  const store = new MemoryStore();
  await store.createUser(user, 'h1');
  await store.createUser(admin, 'h2');
  await store.insertInstance(inst('r1', 'u1', 'running', 256));
  await store.insertInstance(inst('s1', 'u1', 'stopped', 4096, 8));
  return { store, a: new Admission(quotas, { memoryMb: 1024, vcpus: 4 }, 'n1') };
}

test('live quotas count only live instances and name what ran out (resource_exhausted)', async () => {
  const { store, a } = await setUp();
  await store.unitOfWork((tx) => a.admitLive(tx, 'u1', [inst('x', 'u1', 'stopped', 256)]));
  await assert.rejects(store.unitOfWork((tx) => a.admitLive(tx, 'u1', [inst('x', 'u1', 'stopped', 257)])), kind('resource_exhausted', /live_memory_mb/));
  await assert.rejects(store.unitOfWork((tx) => a.admitLive(tx, 'u1', [inst('x', 'u1', 'stopped', 16, 2)])), kind('resource_exhausted', /live_vcpus/));
  await assert.rejects(store.unitOfWork((tx) => a.admitCreate(tx, 'u1', 2, [])), kind('resource_exhausted', /instances/));
  await store.unitOfWork((tx) => a.admitCreate(tx, 'u1', 1, []));
});

test('admins have no quota but the node capacity bounds everyone (unavailable)', async () => {
  const { store, a } = await setUp();
  await store.unitOfWork((tx) => a.admitCreate(tx, 'a1', 10, [inst('x', 'a1', 'stopped', 768, 3)]));
  await assert.rejects(store.unitOfWork((tx) => a.admitLive(tx, 'a1', [inst('x', 'a1', 'stopped', 769)])), kind('unavailable', /node full: memory/));
  await assert.rejects(store.unitOfWork((tx) => a.admitLive(tx, 'a1', [inst('x', 'a1', 'stopped', 16, 4)])), kind('unavailable', /node full: vcpus/));
});

test('registry bytes: non-admins up to the quota, admins unbounded', () => {
  const a = new Admission(quotas, { memoryMb: 1, vcpus: 1 }, 'n1');
  a.admitRegistryBytes(user, 900, 100);
  assert.throws(() => a.admitRegistryBytes(user, 900, 101), kind('resource_exhausted', /registry_bytes/));
  a.admitRegistryBytes(admin, 1e12, 1e12);
});

test('admission reads sums, never the instance lists (a start must not read every instance of the node)', async () => {
  const { store, a } = await setUp();
  const listing = (): never => {
    throw new Error('admission listed instances');
  };
  const tx = new Proxy(store, { get: (t, k) => (k === 'listInstances' || k === 'nodeInstances' || k === 'allInstances' ? listing : Reflect.get(t, k, t)) });
  await a.admitCreate(tx, 'u1', 1, [inst('x', 'u1', 'stopped', 128)]);
  await assert.rejects(a.admitLive(tx, 'u1', [inst('x', 'u1', 'stopped', 257)]), kind('resource_exhausted', /live_memory_mb/));
});
