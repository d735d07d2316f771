/**
 * Conformance cases on what a sandbox sees of its filesystem: a private
 * writable root over the shared tree, shared read-only image mounts (ROMs),
 * read-only devices, and all of it after a node restart. Registered by
 * driverConformance (suite.ts) inside its describe; not a test file by itself.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RuntimeDriver, SandboxMount, SandboxSpec } from '../../../src/core/ports/runtime.js';
import { idRangeBase } from '../../../src/lib/idmap.js';
import { waitFor, within } from '../../integration/runtime/fixtures.js';
import type { Sandboxes } from '../../integration/runtime/sandboxes.js';
import type { DriverHarness } from './suite.js';

/** Mountpoints on the host at or below `dir`. */
export function hostMountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

/** Loop devices whose backing file is `file`. */
export function loopsBacking(file: string): string[] {
  const out = execFileSync('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE']).toString().trim();
  if (out === '') return [];
  const list = (JSON.parse(out) as { loopdevices: Array<{ name: string; 'back-file': string | null }> }).loopdevices;
  return list.filter((l) => (l['back-file'] ?? '').replace(/ \(deleted\)$/, '') === file).map((l) => l.name);
}

/** An EROFS image of a directory holding `files`. */
export async function makeErofs(dir: string, image: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  execFileSync('mkfs.erofs', [image, dir], { stdio: 'pipe' });
}

export function viewCases(h: DriverHarness, sb: Sandboxes<RuntimeDriver>): void {
  const writable = (id: string, args: string[], extra: Partial<SandboxSpec> = {}): SandboxSpec =>
    sb.specFor(id, args, { root: { kind: 'dir', path: sb.rootfs, writable: { sizeBytes: 32 * 1024 * 1024 } }, idMapBase: idRangeBase(7), ...extra });
  const until = (id: string, marker: string): Promise<string> =>
    waitFor(`${id} to print ${marker}`, async () => ((await sb.logOf(id)).includes(marker) ? sb.logOf(id) : ''), 10_000);

  test('a writable root is private: the sandbox root writes anywhere, a second sandbox and the shared tree never see it', async () => {
    const a = sb.newId('rw-a');
    const b = sb.newId('rw-b');
    const script = [
      'echo secret > /etc/x',
      'echo db > /app.db',
      'mkdir -p /var/lib/app && echo v > /var/lib/app/state',
      'echo more >> /www/index.html',
      'echo "owner:$(stat -c %u:%g / /etc | tr "\\n" " ")"',
      'cat /etc/x /app.db /var/lib/app/state',
      'cat /www/index.html',
      'echo ready; exec sleep 1000',
    ].join('; ');
    try {
      await sb.start(writable(a, ['/bin/sh', '-c', script]));
      assert.equal(await until(a, 'ready'), 'owner:0:0 0:0 \nsecret\ndb\nv\nhello from hangar\nmore\nready\n');
      await sb.start(writable(b, ['/bin/sh', '-c', 'ls /etc/x /app.db 2>/dev/null; cat /www/index.html; echo done'], { idMapBase: idRangeBase(8) }));
      assert.equal((await within(sb.driver.waitExit(b), 10_000, 'waitExit')).exitCode, 0);
      assert.equal(await sb.logOf(b), 'hello from hangar\ndone\n', "the second sandbox sees the image, not the first one's writes");
      for (const p of ['etc/x', 'app.db', 'var']) assert.equal(existsSync(join(sb.rootfs, p)), false, `${p} not in the shared tree`);
    } finally {
      await sb.removeOn(sb.driver, a);
      await sb.removeOn(sb.driver, b);
    }
    sb.assertNothingLeft(a);
    sb.assertNothingLeft(b);
    await sb.assertRootfsUnmodified();
  });

  test('writes to a writable root are bounded by its size and leave the host alone', async () => {
    const id = sb.newId('rw-full');
    const spec = writable(id, ['/bin/sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=40 2>/dev/null || echo refused'], {
      root: { kind: 'dir', path: sb.rootfs, writable: { sizeBytes: 8 * 1024 * 1024 } },
    });
    try {
      await sb.start(spec);
      const exit = await within(sb.driver.waitExit(id), 20_000, 'waitExit');
      assert.ok(exit.oomKilled || (await sb.logOf(id)) === 'refused\n', `40 MiB into an 8 MiB root: ${JSON.stringify(exit)} ${await sb.logOf(id)}`);
      assert.equal(existsSync(join(sb.rootfs, 'big')), false);
    } finally {
      await sb.removeOn(sb.driver, id);
    }
    sb.assertNothingLeft(id);
  });

  test('an image mount is shared read-only by the sandboxes using it and gone with the last; devices are read-only', async (t) => {
    if (!sb.driver.mountTypes.includes('image')) {
      t.diagnostic(`${h.name} has no image mounts`);
      return;
    }
    const img = join(sb.tmp, 'rom.erofs');
    await makeErofs(join(sb.tmp, 'rom-src'), img, { hello: 'from the rom\n' });
    const imageBytes = readFileSync(img);
    const rom: SandboxMount = { type: 'image', source: img, target: '/rom', fsType: 'erofs', readonly: true };
    const devices = [{ path: '/dev/ukp_rom_x', source: img, readonly: true }];
    const script = [
      'cat /rom/hello',
      '(echo x > /rom/new) 2>/dev/null || echo rom-readonly',
      '(echo x > /rom/hello) 2>/dev/null || echo rom-file-readonly',
      '(echo x >> /dev/ukp_rom_x) 2>/dev/null || echo device-readonly',
      `echo "dev-size:$(stat -c %s /dev/ukp_rom_x)"`,
      // The filesystem type field (after " - "), not a path that happens to say erofs.
      'grep -c " - erofs " /proc/self/mountinfo',
      'echo ready; exec sleep 1000',
    ].join('; ');
    const want = `from the rom\nrom-readonly\nrom-file-readonly\ndevice-readonly\ndev-size:${imageBytes.length}\n1\nready\n`;
    const a = sb.newId('rom-a');
    const b = sb.newId('rom-b');
    const c = sb.newId('rom-none');
    try {
      await sb.start(writable(a, ['/bin/sh', '-c', script], { mounts: [rom], devices }));
      assert.equal(await until(a, 'ready'), want);
      await sb.start(writable(b, ['/bin/sh', '-c', script], { mounts: [rom], devices, idMapBase: idRangeBase(8) }));
      assert.equal(await until(b, 'ready'), want);
      // Read-only root: the mountpoint must exist in the image (the busybox tree has /mnt).
      await sb.start(sb.specFor(c, ['/bin/sh', '-c', 'ls /rom 2>/dev/null; grep -c " - erofs " /proc/self/mountinfo; echo done']));
      await within(sb.driver.waitExit(c), 10_000, 'waitExit');
      assert.equal(await sb.logOf(c), '0\ndone\n', "a sandbox without the ROM sees neither it nor its mount");
      const shared = hostMountsUnder(join(sb.stateDir, 'images'));
      assert.equal(shared.length, 1, `one host mount for two sandboxes: ${shared.join(', ')}`);
      assert.equal(loopsBacking(img).length, 1, 'one loop device');
      await sb.removeOn(sb.driver, a);
      assert.equal(hostMountsUnder(join(sb.stateDir, 'images')).length, 1, 'still used by the second sandbox');
      await sb.removeOn(sb.driver, b);
      assert.deepEqual(hostMountsUnder(join(sb.stateDir, 'images')), [], 'unmounted with its last user');
      assert.deepEqual(loopsBacking(img), [], 'its loop device freed');
      assert.deepEqual(readFileSync(img), imageBytes, 'the image file is unchanged');
    } finally {
      for (const id of [a, b, c]) await sb.removeOn(sb.driver, id);
    }
    for (const id of [a, b, c]) sb.assertNothingLeft(id);
  });

  test('after a node restart the new driver lists, inspects and removes sandboxes with a writable root, ROM and sysfs', async () => {
    assert.ok(sb.net);
    const img = join(sb.tmp, 'adopt.erofs');
    await makeErofs(join(sb.tmp, 'adopt-src'), img, { a: 'a\n' });
    const id = sb.newId('adopt-view');
    const restarted = h.make(sb.stateDir);
    try {
      const pid = await sb.start(
        writable(id, ['/bin/sh', '-c', 'echo w > /etc/w; cat /rom/a; echo ready; exec sleep 1000'], {
          netnsPath: sb.net.path,
          mounts: [{ type: 'image', source: img, target: '/rom', fsType: 'erofs', readonly: true }],
        }),
      );
      assert.equal(await until(id, 'ready'), 'a\nready\n');
      sb.handOver(id, restarted);
      assert.deepEqual((await restarted.list()).filter((s) => s.id === id), [{ id, state: 'running', pid }]);
      assert.equal((await restarted.inspect(id))?.state, 'running');
      await sb.removeOn(restarted, id);
      assert.deepEqual(hostMountsUnder(sb.stateDir), [], 'root, sysfs and image mounts are gone');
      assert.deepEqual(loopsBacking(img), []);
      assert.deepEqual(await readdir(join(sb.stateDir, 'roots')), []);
    } finally {
      await sb.removeOn(restarted, id);
    }
    sb.assertNothingLeft(id);
  });
}
