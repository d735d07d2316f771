/**
 * What only the runc driver promises, against real runc (the contract every
 * driver keeps is test/conformance/driver/): the user-namespace mapping,
 * seccomp and init of its OCI config, sandboxes outliving a SIGKILLed node
 * process, running without the init, and cgroup-level cleanup. Needs root,
 * runc, make and gcc (static libc).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { SANDBOX_ID_BASE } from '../../../src/lib/idmap.js';
import { RuncDriver } from '../../../src/runtime/runc/driver.js';
import { buildShim, processAlive, repoRoot, sleep, waitFor, within } from './fixtures.js';
import { runcLeftovers } from './runc-leftovers.js';
import { useSandboxes } from './sandboxes.js';

const shimPath = buildShim();
const sb = useSandboxes({ tag: 'runc', make: (stateDir) => new RuncDriver({ stateDir, shimPath }), leftovers: runcLeftovers });
const newId = (tag: string): string => sb.newId(tag);
const logOf = (id: string): Promise<string> => sb.logOf(id);

test('root inside is SANDBOX_ID_BASE outside; rootfs read-only, files bound, seccomp on', async () => {
  const id = newId('uid');
  const resolv = join(sb.tmp, `${id}.resolv.conf`);
  await writeFile(resolv, 'nameserver 10.251.0.53\n');
  const script = [
    'id -u',
    'hostname',
    'echo "$FOO $PATH"',
    'cat /etc/resolv.conf',
    'touch /bin/new 2>/dev/null || echo rootfs-readonly',
    'echo data > /tmp/f && cat /tmp/f',
    'unshare -U true 2>/dev/null || echo unshare-denied',
    'echo ready',
    'exec sleep 1000',
  ].join('; ');
  try {
    const spec = sb.specFor(id, ['/bin/sh', '-c', script], {
      mounts: [{ type: 'bind', source: resolv, target: '/etc/resolv.conf', readonly: true }],
      hostname: 'box-1',
    });
    spec.process.env = ['FOO=bar'];
    const pid = await sb.start(spec);
    await waitFor('the script', async () => (await logOf(id)).includes('ready'));
    assert.equal(
      await logOf(id),
      '0\nbox-1\nbar /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' +
        'nameserver 10.251.0.53\nrootfs-readonly\ndata\nunshare-denied\nready\n',
    );
    const uidLine = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
    assert.deepEqual(uidLine?.split(/\s+/).slice(1, 5), Array(4).fill(String(SANDBOX_ID_BASE)));
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    assert.equal(children.length, 1, 'the app runs under the init');
    const appUid = readFileSync(`/proc/${children[0]}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
    assert.equal(appUid?.split(/\s+/)[1], String(SANDBOX_ID_BASE));
    assert.equal(existsSync(join(sb.rootfs, 'bin/new')), false);
  } finally {
    await sb.removeOn(sb.driver, id);
  }
});

test('a sandbox outlives its node process being SIGKILLed', async () => {
  const id = newId('orphan');
  const child = spawn(process.execPath, [join(repoRoot, 'dist/test/integration/runtime/child-node.js')], {
    env: { ...process.env, HANGAR_TEST_CHILD_NODE: JSON.stringify({ stateDir: sb.stateDir, shimPath, spec: sb.specFor(id, ['/bin/sleep', '1000']) }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  sb.handOver(id, sb.driver);
  try {
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const pid = await waitFor('the child node to start the sandbox', () => (out.includes('\n') ? (JSON.parse(out) as { pid: number }).pid : 0), 10_000);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await within(gone, 5000, 'the child node to die');
    await sleep(100);
    assert.ok(processAlive(pid), 'the app survived its node');
    const shimPid = Number(readFileSync(join(sb.driver.sandboxDir(id), 'shim.pid'), 'utf8'));
    assert.ok(processAlive(shimPid), 'the shim survived its node');
    assert.deepEqual(await sb.driver.inspect(id), { id, state: 'running', pid });
    const exited = sb.driver.waitExit(id);
    await sb.driver.kill(id, 'SIGKILL');
    assert.equal((await within(exited, 5000, 'waitExit')).signal, 'SIGKILL');
  } finally {
    child.kill('SIGKILL');
    await sb.removeOn(sb.driver, id);
  }
  sb.assertNothingLeft(id);
});

test('remove() of a paused sandbox ends every task of its cgroup and its shim', async () => {
  const id = newId('rm');
  const pid = await sb.start(sb.specFor(id, ['/bin/sh', '-c', 'sleep 1000 & sleep 1000 & wait']));
  const shimPid = Number(readFileSync(join(sb.driver.sandboxDir(id), 'shim.pid'), 'utf8'));
  const procs = (): number[] =>
    readFileSync(`/sys/fs/cgroup/pids/hangar/${id}/cgroup.procs`, 'utf8').trim().split('\n').map(Number);
  // init, sh and two sleeps
  const tasks = await waitFor('the app to fork', () => (procs().length >= 4 ? procs() : undefined));
  assert.ok(tasks.includes(pid));
  await sb.driver.freezer.pause(id);
  await sb.removeOn(sb.driver, id);
  for (const p of [...tasks, shimPid]) assert.equal(processAlive(p), false, `process ${p} left`);
  sb.assertNothingLeft(id);
});

test('a start that fails (no such binary, init=false) rejects clearly and leaves nothing', () =>
  sb.assertFailedStartIsClean(new RuncDriver({ stateDir: sb.stateDir, shimPath, init: false })),
);

test('without the init the app is pid 1: exit codes and SIGKILL still work', async () => {
  const d = new RuncDriver({ stateDir: sb.stateDir, shimPath, init: false });
  const a = newId('noinit');
  const b = newId('noinit');
  try {
    await sb.startOn(d, sb.specFor(a, ['sh', '-c', 'exit 5']));
    assert.equal((await within(d.waitExit(a), 5000, 'waitExit')).exitCode, 5);
    const pid = await sb.startOn(d, sb.specFor(b, ['sleep', '1000']));
    // Without an init the pid runc reports becomes the app by execve: for an
    // instant after start its cmdline is runc's init or empty (the swap itself).
    const cmdline = await waitFor('the app exec', () => {
      const c = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
      return c === '' || c.startsWith('runc') ? undefined : c;
    });
    assert.equal(cmdline, 'sleep\x001000\x00');
    await d.kill(b, 'SIGKILL');
    assert.equal((await within(d.waitExit(b), 5000, 'waitExit')).signal, 'SIGKILL');
  } finally {
    await sb.removeOn(d, a);
    await sb.removeOn(d, b);
  }
});

test('the shared rootfs was never modified', () => sb.assertRootfsUnmodified());
