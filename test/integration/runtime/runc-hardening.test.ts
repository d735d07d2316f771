/**
 * Issue 8 point 7 against real runc: the seccomp profile refuses io_uring, and
 * a sandbox in a joined network namespace does not see the host's network
 * interfaces through /sys. Needs root, runc, make and gcc (static libc).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { chmod, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { RuncDriver } from '../../../src/runtime/runc/driver.js';
import { buildShim, repoRoot, waitFor } from './fixtures.js';
import { runcLeftovers } from './runc-leftovers.js';
import { useSandboxes } from './sandboxes.js';

const shimPath = buildShim();
const sb = useSandboxes({ tag: 'hard', make: (stateDir) => new RuncDriver({ stateDir, shimPath }), leftovers: runcLeftovers, netns: true });

function buildProbe(): string {
  execFileSync('make', ['--no-print-directory', 'build/bin/uring-probe'], { cwd: repoRoot, stdio: 'pipe' });
  return join(repoRoot, 'build/bin/uring-probe');
}

test('io_uring_setup is refused inside a sandbox (it works on the host)', async () => {
  const probe = join(sb.tmp, 'uring-probe');
  await copyFile(buildProbe(), probe);
  await chmod(probe, 0o755);
  assert.equal(execFileSync(probe).toString(), 'io_uring_setup: allowed\n', 'the host kernel has io_uring');
  const id = sb.newId('uring');
  try {
    await sb.start(
      sb.specFor(id, ['/bin/sh', '-c', '/tmp/uring-probe; echo done'], {
        mounts: [{ type: 'bind', source: probe, target: '/tmp/uring-probe', readonly: false }],
      }),
    );
    const log = await waitFor('the probe', async () => ((await sb.logOf(id)).includes('done') ? sb.logOf(id) : ''), 10_000);
    assert.equal(log, 'io_uring_setup: EPERM\ndone\n');
  } finally {
    await sb.removeOn(sb.driver, id);
  }
});

test("a sandbox in a joined netns does not see the host's interfaces in /sys", async () => {
  const net = sb.net;
  assert.ok(net);
  const hostIfs = readdirSync('/sys/class/net');
  assert.ok(hostIfs.length > 1, 'the host has interfaces to hide');
  const id = sb.newId('sysnet');
  const script = [
    'echo "class:$(ls /sys/class/net | tr "\\n" " ")"',
    'echo "virtual:$(ls /sys/devices/virtual/net | tr "\\n" " ")"',
    'echo "cpus:$(ls -d /sys/devices/system/cpu/cpu0)"',
    'echo done',
  ].join('; ');
  try {
    await sb.start(sb.specFor(id, ['/bin/sh', '-c', script], { netnsPath: net.path }));
    const log = await waitFor('the script', async () => ((await sb.logOf(id)).includes('done') ? sb.logOf(id) : ''), 10_000);
    assert.equal(log, 'class:\nvirtual:\ncpus:/sys/devices/system/cpu/cpu0\ndone\n', 'no interface listed, the rest of /sys still there');
  } finally {
    await sb.removeOn(sb.driver, id);
  }
});

test('the shared rootfs was never modified', () => sb.assertRootfsUnmodified());
