import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryPinStore } from '../../../src/core/images/memory-pins.js';
import type { ImageUse, PinRecord } from '../../../src/core/images/ports.js';
import { ImageInUseError, ImageService } from '../../../src/core/images/service.js';
import { FakeClock } from '../../helpers/fake-clock.js';

const D = (n: number): string => `sha256:${String(n).repeat(64)}`;

function setup(uses: ImageUse[] = [], o: { leaseLingerMs?: number } = {}) {
  const clock = new FakeClock();
  const pins = new MemoryPinStore();
  const list = [...uses];
  const svc = new ImageService({ pins, clock, sources: [{ name: 'instances', references: async () => list }], ...o });
  return { svc, pins, clock, list };
}

const pin = (uuid: string, digest: string, extra: Partial<PinRecord> = {}): PinRecord => ({
  uuid, url: `app:${uuid}`, repo: 'app', digest, tags: [], createdAt: '2026-01-01T00:00:00Z', state: 'ready', owner: 'u1', ...extra,
});

test('an image is in use while a reference source names its digest, or an entry of its index', async () => {
  const { svc, list } = setup([{ digest: D(1), ref: 'app:v1', by: 'web-1' }]);
  const refused = await svc.refusal({ ref: 'app:v1', digest: D(1), lastTag: true });
  assert.ok(refused instanceof ImageInUseError);
  assert.match(refused.message, /used by 1 instance\(s\) \(web-1\)/);
  assert.ok(await svc.refusal({ ref: 'app@index', digest: D(9), children: [D(1)], lastTag: true }), 'a child of the index is in use');
  assert.equal(await svc.refusal({ ref: 'app:v1', digest: D(2), lastTag: true }), undefined);
  list.length = 0;
  assert.equal(await svc.refusal({ ref: 'app:v1', digest: D(1), lastTag: true }), undefined, 'no holder any more');
});

test('every registered source counts (ROMs, volumes, templates register theirs)', async () => {
  const { svc } = setup();
  svc.addSource({ name: 'roms', references: async () => [{ digest: D(3), by: 'rom of db-1' }] });
  assert.ok(await svc.refusal({ ref: 'rom:v1', digest: D(3), lastTag: true }));
  assert.ok((await svc.keepSet()).has(D(3)));
});

test('removing a tag that is not the last: only holders created by that name refuse it', async () => {
  const { svc } = setup([{ digest: D(1), ref: 'localhost:5000/app:v1', by: 'by-name' }]);
  assert.equal(await svc.refusal({ ref: 'app:v2', digest: D(1), lastTag: false, tag: { repo: 'app', tag: 'v2' } }), undefined);
  assert.ok(await svc.refusal({ ref: 'app:v1', digest: D(1), lastTag: false, tag: { repo: 'app', tag: 'v1' } }), 'host-qualified names match the repository without host');
  assert.equal(await svc.refusal({ ref: 'app:v1', digest: D(1), lastTag: false }), undefined, 'without a tag rule the digest counts only when the image leaves');
});

test('pins: refuse the last tag, keep for gc, children included, expire with the clock', async () => {
  const { svc, clock } = setup();
  await svc.pin(pin('p1', D(4), { children: [D(5)], expiresAt: new Date(clock.now().getTime() + 1000).toISOString() }));
  const refused = await svc.refusal({ ref: 'app:v1', digest: D(5), lastTag: true });
  assert.ok(refused instanceof ImageInUseError && refused.pinned);
  assert.match(refused.message, /pinned; unpin it first/);
  assert.equal(await svc.refusal({ ref: 'app:v1', digest: D(4), lastTag: false }), undefined, 'another tag keeps the image: a pin does not stop this one going');
  assert.deepEqual([...(await svc.keepSet())].sort(), [D(4), D(5)]);
  await clock.advance(1000);
  assert.deepEqual(await svc.pins(), []);
  assert.equal((await svc.keepSet()).size, 0);
});

test('guardRemoval runs the removal only when allowed, and one removal or collection at a time', async () => {
  const { svc } = setup([{ digest: D(1), by: 'web-1' }]);
  let ran = 0;
  await assert.rejects(svc.guardRemoval({ ref: 'app:v1', digest: D(1), lastTag: true }, async () => void ran++), ImageInUseError);
  assert.equal(ran, 0);
  const order: string[] = [];
  let release!: () => void;
  const first = svc.guardRemoval({ ref: 'b', digest: D(2), lastTag: true }, () => new Promise<void>((r) => (release = () => (order.push('remove'), r()))));
  const gc = svc.collect(async () => void order.push('gc'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, []);
  release();
  await first;
  await gc;
  assert.deepEqual(order, ['remove', 'gc']);
});

test('a lease keeps a digest from gc and removal while an instance is created, and lingers after release', async () => {
  const { svc, clock } = setup([], { leaseLingerMs: 5000 });
  const release = await svc.lease([D(6)]);
  let kept = false;
  await svc.collect(async (keep) => void (kept = keep(D(6))));
  assert.ok(kept);
  assert.ok(await svc.refusal({ ref: 'app:v1', digest: D(6), lastTag: true }));
  release();
  await clock.advance(4999);
  assert.ok((await svc.keepSet()).has(D(6)), 'until the instance is stored');
  await clock.advance(1);
  assert.equal((await svc.keepSet()).has(D(6)), false);
});

test('a lease released with 0 (the record is stored) ends at once, even after a lingering release', async () => {
  const { svc } = setup([], { leaseLingerMs: 60_000 });
  const release = await svc.lease([D(7)]);
  release(); // the resolve's own release: lingers
  assert.ok(await svc.refusal({ ref: 'app:v1', digest: D(7), lastTag: true }), 'held while the create runs');
  release(0); // the create stored its record (or failed)
  assert.equal(await svc.refusal({ ref: 'app:v1', digest: D(7), lastTag: true }), undefined);
  assert.equal((await svc.keepSet()).has(D(7)), false);
});
