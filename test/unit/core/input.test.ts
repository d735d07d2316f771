import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCreate, DEFAULT_LIMITS, replicaNames } from '../../../src/core/instances/input.js';
import { applyUpdate } from '../../../src/core/instances/update.js';
import type { Instance } from '../../../src/core/instance.js';
import { HangarError } from '../../../src/lib/errors.js';

const field = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    if (e instanceof HangarError) return e.field;
    throw e;
  }
  return undefined;
};

test('defaults: 128 MiB, 1 vcpu, restart never, no replicas', () => {
  const c = checkCreate({ image: 'hello' }, DEFAULT_LIMITS);
  assert.equal(c.memoryMb, 128);
  assert.equal(c.vcpus, 1);
  assert.equal(c.restartPolicy, 'never');
  assert.equal(c.replicas, 0);
  assert.deepEqual(c.features, []);
});

test('create checks name the field at fault', () => {
  const L = DEFAULT_LIMITS;
  assert.equal(field(() => checkCreate({ image: 'x', memoryMb: 4 }, L)), 'memory_mb');
  assert.equal(field(() => checkCreate({ image: 'x', memoryMb: L.maxMemoryMb + 1 }, L)), 'memory_mb');
  assert.equal(field(() => checkCreate({ image: 'x', vcpus: 99 }, L)), 'vcpus');
  assert.equal(field(() => checkCreate({ image: 'x', name: 'Bad_Name' }, L)), 'name');
  assert.equal(field(() => checkCreate({ image: 'x', name: '-x' }, L)), 'name');
  assert.equal(field(() => checkCreate({ image: 'x', hostname: 'a.b' }, L)), 'hostname');
  assert.equal(field(() => checkCreate({ image: 'x', replicas: L.maxInstancesPerUser }, L)), 'replicas');
  assert.equal(field(() => checkCreate({ image: 'x', features: ['delete-on-stop'], restartPolicy: 'always' }, L)), 'features');
  assert.equal(field(() => checkCreate({ image: 'x', timeoutS: 5, autostart: false }, L)), 'timeout_s');
  assert.equal(field(() => checkCreate({ image: 'x', env: { 'A=B': '1' } }, L)), 'env');
});

test('replica names', () => {
  assert.deepEqual(replicaNames('web', 2), ['web', 'web-1', 'web-2']);
  assert.deepEqual(replicaNames('web', 0), ['web']);
});

const inst: Instance = {
  uuid: 'u', name: 'web', owner: 'o', createdAt: '', state: 'stopped', image: 'hello', imageDigest: 'sha256:x',
  memoryMb: 128, vcpus: 1, restartPolicy: 'never', features: [], tags: ['a'], hostname: 'web', deleteLock: false,
  startCount: 0, restartCount: 0, uptimeMs: 0, env: { A: '1', B: '2' },
};

test('update: set/add/del on env, tags, memory, args', () => {
  assert.equal(applyUpdate(inst, { prop: 'memory_mb', op: 'set', value: 512 }, DEFAULT_LIMITS).memoryMb, 512);
  assert.deepEqual(applyUpdate(inst, { prop: 'env', op: 'add', value: { C: '3' } }, DEFAULT_LIMITS).env, { A: '1', B: '2', C: '3' });
  assert.deepEqual(applyUpdate(inst, { prop: 'env', op: 'del', value: 'A' }, DEFAULT_LIMITS).env, { B: '2' });
  assert.deepEqual(applyUpdate(inst, { prop: 'tags', op: 'add', value: ['b', 'a'] }, DEFAULT_LIMITS).tags, ['a', 'b']);
  assert.deepEqual(applyUpdate(inst, { prop: 'tags', op: 'del', value: 'a' }, DEFAULT_LIMITS).tags, []);
  assert.deepEqual(applyUpdate(inst, { prop: 'args', op: 'set', value: ['/hello', '--port', '9'] }, DEFAULT_LIMITS).args, ['/hello', '--port', '9']);
  assert.equal(applyUpdate(inst, { prop: 'delete_lock', op: 'set', value: true }, DEFAULT_LIMITS).deleteLock, true);
});

test('update: bad values name the field', () => {
  assert.equal(field(() => applyUpdate(inst, { prop: 'memory_mb', op: 'set', value: 'lots' }, DEFAULT_LIMITS)), 'value');
  assert.equal(field(() => applyUpdate(inst, { prop: 'memory_mb', op: 'add', value: 1 }, DEFAULT_LIMITS)), 'op');
  assert.equal(field(() => applyUpdate(inst, { prop: 'env', op: 'set', value: { A: 1 } }, DEFAULT_LIMITS)), 'value.A');
  assert.equal(field(() => applyUpdate(inst, { prop: 'hostname', op: 'set', value: 'not a label' }, DEFAULT_LIMITS)), 'value');
});
