import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UploadQuota } from '../../../src/registry/quota.js';

const MiB = 1024 * 1024;
const alice = { uuid: 'u-alice', name: 'alice', admin: false };
const admin = { uuid: 'u-admin', name: 'admin', admin: true };

function quota(limit: number, stored: Map<string, number>) {
  let reads = 0;
  const q = new UploadQuota({
    stored: (u) => {
      reads++;
      return stored.get(u) ?? 0;
    },
    admit: (_u, used, adding) => {
      if (used + adding > limit) throw new Error(`quota exceeded: registry_bytes (using ${used} B, asked for ${adding} B more)`);
    },
    step: 8 * MiB,
  });
  return { q, reads: () => reads };
}

test('a body reserves in steps: one check per step, not per chunk', () => {
  const { q, reads } = quota(100 * MiB, new Map());
  const m = q.meter(alice);
  for (let i = 0; i < 256; i++) m.take(64 * 1024); // 16 MiB in 64 KiB chunks
  assert.equal(reads(), 2);
  assert.equal(q.used(alice.uuid), 16 * MiB);
  m.done();
  assert.equal(q.used(alice.uuid), 0, 'the reservation ends with the request');
});

test('near the limit a body reserves exactly what arrived, and past it is refused', () => {
  const { q } = quota(10 * MiB, new Map([[alice.uuid, 7 * MiB]]));
  const m = q.meter(alice);
  m.take(2 * MiB);
  assert.equal(q.used(alice.uuid), 9 * MiB);
  m.take(MiB);
  assert.throws(() => m.take(1), /registry_bytes/);
  m.done();
  assert.equal(q.used(alice.uuid), 7 * MiB);
});

test('what the user holds comes from the registry: deleting frees room for the next push', () => {
  const stored = new Map([[alice.uuid, 9 * MiB]]);
  const { q } = quota(10 * MiB, stored);
  assert.throws(() => q.meter(alice).take(2 * MiB), /registry_bytes/);
  stored.set(alice.uuid, 0);
  const m = q.meter(alice);
  m.take(2 * MiB);
  m.done();
});

test('admins are not metered at all', () => {
  const { q, reads } = quota(0, new Map());
  const m = q.meter(admin);
  m.take(100 * MiB);
  m.done();
  assert.equal(reads(), 0);
});
