import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admission } from '../../../src/core/instances/admission.js';
import { DEFAULT_LIMITS } from '../../../src/core/instances/input.js';
import { InstanceService } from '../../../src/core/instances/service.js';
import type { ImageStore } from '../../../src/core/ports/images.js';
import type { User } from '../../../src/core/ports/store.js';
import { HangarError } from '../../../src/lib/errors.js';
import { fakeLifecycle } from '../../helpers/core-fakes.js';

const images: ImageStore = {
  resolve: async (ref) => ({ ref, digest: `sha256:${'0'.repeat(64)}`, rootfs: '/r', sizeBytes: 1, config: { entrypoint: ['/app'], cmd: [], env: [], workingDir: '/', user: '' } }),
  list: async () => [],
};

function setup() {
  const f = fakeLifecycle();
  const admission = new Admission({ instances: 6, liveMemoryMb: 1e6, liveVcpus: 1e6, registryBytes: 0 }, { memoryMb: 1e9, vcpus: 1e9 }, 'node-a');
  const svc = new InstanceService({ store: f.store, images, network: f.network, logs: { pathFor: () => '/dev/null', read: async () => ({ data: Buffer.alloc(0), available: { start: 0, end: 0 }, range: { start: 0, end: 0 } }), remove: async () => undefined } as never, clock: f.clock, limits: DEFAULT_LIMITS, lifecycle: f.lifecycle, admission });
  const user = (name: string, admin: boolean): User => ({ uuid: `uuid-${name}`, name, admin, createdAt: f.clock.now().toISOString() });
  return { f, svc, user };
}

test('replicas have no cap of their own: 100 at once when the quota allows (the old cap was 64)', async () => {
  const { f, svc, user } = setup();
  const admin = user('admin', true);
  await f.store.createUser(admin, 'h-admin');
  const made = await svc.create(admin, { image: 'app:latest', name: 'many', replicas: 99, autostart: false });
  assert.equal(made.length, 100);
  assert.equal(made[99]!.name, 'many-99');
});

test("a user's instance quota decides how many replicas: over it is a 429 naming the quota, nothing created", async () => {
  const { f, svc, user } = setup();
  const u = user('alice', false);
  await f.store.createUser(u, 'h-alice');
  await assert.rejects(svc.create(u, { image: 'app:latest', name: 'r', replicas: 6, autostart: false }), (e: unknown) => e instanceof HangarError && e.kind === 'resource_exhausted' && /quota exceeded: instances/.test(e.message));
  assert.equal((await f.store.allInstances()).length, 0);
  assert.equal((await svc.create(u, { image: 'app:latest', name: 'r', replicas: 5, autostart: false })).length, 6);
});

test('replicas beyond what any user may hold on the node are refused before names are made', async () => {
  const { svc, user } = setup();
  await assert.rejects(svc.create(user('admin', true), { image: 'app:latest', replicas: 1e9 }), (e: unknown) => e instanceof HangarError && e.kind === 'resource_exhausted' && e.field === 'replicas');
});
