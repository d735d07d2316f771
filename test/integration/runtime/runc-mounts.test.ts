/**
 * The runc driver's host mounts beyond the conformance suite: a shared image
 * mount whose users' records were lost (a crash mid-remove) is found and
 * unmounted by the sweep `hangar node cleanup` runs, with its loop device;
 * a failed start leaves no host mount. Needs root, runc, gcc, mkfs.erofs.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { HangarError } from '../../../src/lib/errors.js';
import { RuncDriver } from '../../../src/runtime/runc/driver.js';
import { hostMountsUnder, loopsBacking, makeErofs } from '../../conformance/driver/suite-view.js';
import { buildShim, within } from './fixtures.js';
import { runcLeftovers } from './runc-leftovers.js';
import { useSandboxes } from './sandboxes.js';

const shimPath = buildShim();
const sb = useSandboxes({ tag: 'rmnt', make: (stateDir) => new RuncDriver({ stateDir, shimPath }), leftovers: runcLeftovers });

test('an image mount no record names any more is swept with its loop device', async () => {
  const img = join(sb.tmp, 'orphan.erofs');
  await makeErofs(join(sb.tmp, 'orphan-src'), img, { f: 'f\n' });
  const id = sb.newId('orphan');
  await sb.start(
    sb.specFor(id, ['/bin/cat', '/mnt/f'], {
      root: { kind: 'dir', path: sb.rootfs, writable: { sizeBytes: 16 * 1024 * 1024 } },
      mounts: [{ type: 'image', source: img, target: '/mnt', fsType: 'erofs', readonly: true }],
    }),
  );
  assert.equal((await within(sb.driver.waitExit(id), 10_000, 'waitExit')).exitCode, 0);
  assert.equal(await sb.logOf(id), 'f\n');
  // The record is lost (as if the node died between unmount decisions): remove cannot know the mount was its.
  await writeFile(join(sb.driver.sandboxDir(id), 'mounts.json'), JSON.stringify({ images: [] }));
  await sb.removeOn(sb.driver, id);
  assert.equal(hostMountsUnder(join(sb.stateDir, 'images')).length, 1, 'left mounted');
  assert.equal(await sb.driver.hostMounts.sweep(), 1);
  assert.deepEqual(hostMountsUnder(sb.stateDir), []);
  assert.deepEqual(loopsBacking(img), []);
  assert.equal(await sb.driver.hostMounts.sweep(), 0, 'nothing more to sweep');
  sb.assertNothingLeft(id);
});

test('a start that fails after the host mounts were made leaves none of them', async () => {
  const img = join(sb.tmp, 'fail.erofs');
  await makeErofs(join(sb.tmp, 'fail-src'), img, { f: 'f\n' });
  const id = sb.newId('mfail');
  await assert.rejects(
    sb.start(
      sb.specFor(id, ['/nonexistent/app'], {
        root: { kind: 'dir', path: sb.rootfs, writable: { sizeBytes: 16 * 1024 * 1024 } },
        mounts: [{ type: 'image', source: img, target: '/rom', fsType: 'erofs', readonly: true }],
      }),
    ),
    (e: unknown) => e instanceof HangarError,
  );
  sb.forget(id);
  assert.deepEqual(hostMountsUnder(sb.stateDir), []);
  assert.deepEqual(loopsBacking(img), []);
  sb.assertNothingLeft(id);
});

test('an image that is not EROFS fails the start cleanly', async () => {
  const notErofs = join(sb.tmp, 'not.erofs');
  await writeFile(notErofs, Buffer.alloc(8192));
  const id = sb.newId('badimg');
  await assert.rejects(
    sb.start(
      sb.specFor(id, ['/bin/true'], {
        root: { kind: 'dir', path: sb.rootfs, writable: { sizeBytes: 16 * 1024 * 1024 } },
        mounts: [{ type: 'image', source: notErofs, target: '/rom', fsType: 'erofs', readonly: true }],
      }),
    ),
    /mount erofs/,
  );
  sb.forget(id);
  assert.deepEqual(hostMountsUnder(sb.stateDir), []);
  assert.deepEqual(loopsBacking(notErofs), []);
  sb.assertNothingLeft(id);
});

test("a failure of the host mounts the shim prepares (a netns path that is no netns) fails the start with the helper's reason and leaves nothing", async () => {
  const notNetns = join(sb.tmp, 'not-a-netns');
  await writeFile(notNetns, '');
  const id = sb.newId('prepfail');
  await assert.rejects(
    sb.start(sb.specFor(id, ['/bin/true'], { root: { kind: 'dir', path: sb.rootfs, writable: { sizeBytes: 16 * 1024 * 1024 } }, netnsPath: notNetns })),
    (e: unknown) => e instanceof HangarError && /prep: hangar-idmount: setns/.test(e.message),
  );
  sb.forget(id);
  assert.deepEqual(hostMountsUnder(sb.stateDir), []);
  sb.assertNothingLeft(id);
});
