/** The leak check reports loop devices backed by files under a node home (ROM image mounts hold one each). Needs root. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findLeaks } from '../../helpers/leaks.js';

test('a loop device backed by a file under the home is a leak until it is detached', async () => {
  const home = await mkdtemp(join(tmpdir(), 'hangar-leaks-'));
  const scope = { home, netnsPrefix: 'hangar-leaks-none-', bridge: 'hgleaksnone0', cgroupParent: '/hangar-leaks-none' };
  let dev = '';
  try {
    const file = join(home, 'rom.img');
    await writeFile(file, Buffer.alloc(64 * 1024));
    assert.deepEqual((await findLeaks(scope)).filter((l) => l.startsWith('loop')), [], 'nothing before');
    dev = execFileSync('losetup', ['--read-only', '--find', '--show', file]).toString().trim();
    assert.deepEqual((await findLeaks(scope)).filter((l) => l.startsWith('loop')), [`loop device ${dev}: ${file}`]);
    execFileSync('losetup', ['--detach', dev]);
    dev = '';
    assert.deepEqual((await findLeaks(scope)).filter((l) => l.startsWith('loop')), [], 'nothing after');
  } finally {
    if (dev) execFileSync('losetup', ['--detach', dev]);
    await rm(home, { recursive: true, force: true });
  }
});
