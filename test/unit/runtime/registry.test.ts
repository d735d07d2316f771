import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RuntimeDriver } from '../../../src/core/ports/runtime.js';
import { HangarError } from '../../../src/lib/errors.js';
import { DriverRegistry } from '../../../src/runtime/registry.js';

const fake = (name: string, imageKinds: string[]): RuntimeDriver => ({ name, imageKinds }) as unknown as RuntimeDriver;

test('drivers are picked by name, the default when an instance names none', () => {
  const runc = fake('runc', ['oci']);
  const qemu = fake('qemu', ['unikraft']);
  const r = new DriverRegistry([runc, qemu], 'runc');
  assert.equal(r.get(), runc);
  assert.equal(r.get('qemu'), qemu);
  assert.deepEqual(r.all(), [runc, qemu]);
  assert.throws(() => r.get('runsc'), (e: unknown) => e instanceof HangarError && e.kind === 'failed_precondition' && /runsc/.test(e.message));
});

test('the registry says which image kinds the node can run', () => {
  const r = new DriverRegistry([fake('runc', ['oci'])], 'runc');
  assert.equal(r.runsKind('oci'), true);
  assert.equal(r.runsKind('unikraft'), false);
});

test('an unknown default or two drivers of one name are configuration errors', () => {
  assert.throws(() => new DriverRegistry([fake('runc', ['oci'])], 'runsc'), /runsc.*runc/);
  assert.throws(() => new DriverRegistry([fake('runc', ['oci']), fake('runc', ['oci'])], 'runc'), /two runtime drivers/);
});
