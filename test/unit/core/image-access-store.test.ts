/** Read access through a user's own instances asks the store per owner, never for every instance. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instance } from '../../../src/core/instance.js';
import { instanceImages } from '../../../src/core/images/instances.js';
import { MemoryPinStore } from '../../../src/core/images/memory-pins.js';
import type { RepositoryDirectory, RepositoryOwner } from '../../../src/core/images/ports.js';
import { instanceRomImages } from '../../../src/core/images/roms.js';
import { ImageService } from '../../../src/core/images/service.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { MemoryStore } from '../../helpers/core-fakes.js';

const ALICE = { uuid: 'u-alice', admin: false };
const BOB = { uuid: 'u-bob', admin: false };
const CAROL = { uuid: 'u-carol', admin: false };

/** A store whose full listing fails the test: the access rule must not read every instance. */
class NoFullScanStore extends MemoryStore {
  readonly asked: string[] = [];
  override async allInstances(): Promise<Instance[]> {
    throw new Error('the access rule listed every instance of the node');
  }
  override async ownerImageRefs(owner: string, containing: string): Promise<string[]> {
    this.asked.push(`image ${owner} ${containing}`);
    return super.ownerImageRefs(owner, containing);
  }
  override async ownerRomImageRefs(owner: string, containing: string): Promise<string[]> {
    this.asked.push(`rom ${owner} ${containing}`);
    return super.ownerRomImageRefs(owner, containing);
  }
}

function inst(name: string, owner: string, image: string, romImage?: string): Instance {
  return {
    uuid: `uuid-${name}`, name, owner, node: 'n1', createdAt: '2026-01-01T00:00:00Z', state: 'running', image, imageDigest: 'sha256:0', memoryMb: 64, vcpus: 1,
    restartPolicy: 'never', features: [], tags: [], hostname: name, deleteLock: false, startCount: 0, restartCount: 0, uptimeMs: 0,
    ...(romImage ? { roms: [{ name: 'r', digest: 'sha256:1', format: 'erofs', sizeBytes: 4096, image: romImage }] } : {}),
  } as Instance;
}

function setup() {
  const store = new NoFullScanStore();
  const owners = new Map<string, RepositoryOwner>([
    ['alice/app', { owner: ALICE.uuid, public: false }],
    ['alice/rom', { owner: ALICE.uuid, public: false }],
  ]);
  const dir: RepositoryDirectory = { owner: async (r) => owners.get(r), claim: async (_r, rec) => rec, exists: async (r) => owners.has(r), blobRepos: async () => [] };
  const svc = new ImageService({
    pins: new MemoryPinStore(),
    clock: new FakeClock(),
    repositories: dir,
    sources: [
      instanceImages(() => store.allInstances(), (o, r) => store.ownerImageRefs(o, r)),
      instanceRomImages(() => store.allInstances(), (o, r) => store.ownerRomImageRefs(o, r)),
    ],
  });
  return { store, svc };
}

test("another user's private repository is readable through one's own instance (image or ROM), asked per owner and repository", async () => {
  const { store, svc } = setup();
  await store.insertInstance(inst('b1', BOB.uuid, 'localhost:5000/alice/app:1'));
  await store.insertInstance(inst('b2', BOB.uuid, 'nginx', 'alice/rom:v2'));
  for (let i = 0; i < 20; i++) await store.insertInstance(inst(`c${i}`, CAROL.uuid, i % 2 ? 'alice/app:1' : 'hello'));
  assert.equal(await svc.canRead(BOB, 'alice/app'), true, 'by the image a host-qualified reference names');
  assert.equal(await svc.canRead(BOB, 'alice/rom'), true, 'by an image ROM');
  assert.equal(await svc.canRead(ALICE, 'alice/app'), true, 'the owner');
  store.asked.length = 0;
  assert.equal(await svc.canRead({ uuid: 'u-dave', admin: false }, 'alice/app'), false, "others' instances do not count");
  assert.deepEqual(store.asked.sort(), ['image u-dave alice/app', 'rom u-dave alice/app']);
});

test('a reference that only contains the name as text does not grant access', async () => {
  const { store, svc } = setup();
  await store.insertInstance(inst('b1', BOB.uuid, 'alice/app-two:1'));
  await store.insertInstance(inst('b2', BOB.uuid, 'x/alice/app:1'));
  assert.equal(await svc.canRead(BOB, 'alice/app'), false);
});
