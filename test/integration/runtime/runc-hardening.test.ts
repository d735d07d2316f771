/**
 * Issue 8 point 7 against real runc: the seccomp profile refuses io_uring; a
 * sandbox in a joined network namespace sees its own interfaces in /sys and
 * none of the host's; its mountinfo names no host path. Needs root, runc, make
 * and gcc (static libc).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { chmod, copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { idRangeBase } from '../../../src/lib/idmap.js';
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

/** Interfaces of the test's netns, as `ip -n` lists them there. */
function netnsInterfaces(netns: string): string[] {
  const out = execFileSync('ip', ['-n', netns, '-o', 'link', 'show']).toString();
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '')
    .sort();
}

for (const writable of [false, true]) {
  test(`a sandbox in a joined netns sees exactly its own interfaces in /sys, none of the host's (${writable ? 'writable' : 'read-only'} root)`, async () => {
    const net = sb.net;
    assert.ok(net);
    const own = netnsInterfaces(net.name);
    assert.deepEqual(own.length, 2, `lo and the veth end: ${own.join(' ')}`);
    const hostIfs = readdirSync('/sys/class/net');
    assert.ok(hostIfs.some((i) => !own.includes(i)), 'the host has interfaces of its own');
    const id = sb.newId('sysnet');
    const script = [
      'echo "class:$(ls /sys/class/net | tr "\\n" " ")"',
      'echo "virtual:$(ls /sys/devices/virtual/net | tr "\\n" " ")"',
      'echo "cpus:$(ls -d /sys/devices/system/cpu/cpu0)"',
      '(echo 1 > /sys/class/net/lo/mtu) 2>/dev/null || echo sys-readonly',
      'echo done',
    ].join('; ');
    const root = writable ? { root: { kind: 'dir' as const, path: sb.rootfs, writable: { sizeBytes: 16 * 1024 * 1024 } } } : {};
    try {
      await sb.start(sb.specFor(id, ['/bin/sh', '-c', script], { netnsPath: net.path, ...root }));
      const log = await waitFor('the script', async () => ((await sb.logOf(id)).includes('done') ? sb.logOf(id) : ''), 10_000);
      // The veth end is a virtual device as lo is: both folders list the same two.
      assert.equal(log, `class:${own.join(' ')} \nvirtual:${own.join(' ')} \ncpus:/sys/devices/system/cpu/cpu0\nsys-readonly\ndone\n`);
    } finally {
      await sb.removeOn(sb.driver, id);
    }
  });
}

test("a sandbox's mountinfo names no host path (home, /var/lib, the rootfs)", async () => {
  const net = sb.net;
  assert.ok(net);
  // As the node binds them: small files the node writes under its home.
  const hosts = `${sb.stateDir}-hosts`;
  const resolv = `${sb.stateDir}-resolv.conf`;
  await writeFile(hosts, '127.0.0.1 localhost\n');
  await writeFile(resolv, 'nameserver 10.251.0.53\n');
  const id = sb.newId('minfo');
  try {
    await sb.start(
      sb.specFor(id, ['/bin/sh', '-c', 'cat /proc/self/mountinfo; cat /etc/hosts; echo done'], {
        root: { kind: 'dir', path: sb.rootfs, writable: { sizeBytes: 16 * 1024 * 1024 } },
        idMapBase: idRangeBase(5),
        netnsPath: net.path,
        mounts: [
          { type: 'bind', source: hosts, target: '/etc/hosts', readonly: true },
          { type: 'bind', source: resolv, target: '/etc/resolv.conf', readonly: true },
          { type: 'tmpfs', target: '/scratch', sizeBytes: 1024 * 1024 },
        ],
      }),
    );
    const log = await waitFor('mountinfo', async () => ((await sb.logOf(id)).includes('done') ? sb.logOf(id) : ''), 10_000);
    assert.match(log, /127\.0\.0\.1 localhost\ndone\n$/, 'the bound file reads as on the host');
    const lines = log.split('\n').filter((l) => / - /.test(l));
    assert.ok(lines.some((l) => l.split(' ')[4] === '/'), 'the root is listed');
    assert.ok(lines.some((l) => l.split(' ')[4] === '/etc/hosts'), 'the bind is listed');
    for (const secret of [sb.tmp, sb.stateDir, sb.rootfs, '/var/lib']) {
      assert.deepEqual(lines.filter((l) => l.includes(secret)), [], `no ${secret} in mountinfo`);
    }
  } finally {
    await sb.removeOn(sb.driver, id);
  }
});

test('the shared rootfs was never modified', () => sb.assertRootfsUnmodified());
