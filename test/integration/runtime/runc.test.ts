/**
 * What only the runc driver promises, against real runc (the contract every
 * driver keeps is test/conformance/driver/): the user-namespace mapping,
 * seccomp and init of its OCI config, sandboxes outliving a SIGKILLed node
 * process, running without the init, and cgroup-level cleanup. Needs root,
 * runc, make and gcc (static libc).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SandboxSpec } from '../../../src/core/ports/runtime.js';
import { HangarError } from '../../../src/lib/errors.js';
import { SANDBOX_ID_BASE } from '../../../src/lib/idmap.js';
import { RuncDriver } from '../../../src/runtime/runc/driver.js';
import {
  buildShim,
  makeBusyboxRootfs,
  pidsMentioning,
  processAlive,
  repoRoot,
  sleep,
  snapshotTree,
  waitFor,
  within,
} from './fixtures.js';
import { runcLeftovers } from './runc-leftovers.js';

let tmp = '';
let rootfs = '';
let stateDir = '';
let shimPath = '';
let driver: RuncDriver;
let rootfsBefore: Map<string, string>;
/** Every sandbox a test started, on every driver, removed in after() whatever happened. */
const started = new Map<string, RuncDriver>();

before(async () => {
  shimPath = buildShim();
  tmp = await mkdtemp(join(tmpdir(), 'hangar-runc-'));
  // The sandbox's root is host uid SANDBOX_ID_BASE: it must be able to traverse to its rootfs.
  await chmod(tmp, 0o755);
  rootfs = join(tmp, 'rootfs');
  await makeBusyboxRootfs(rootfs);
  rootfsBefore = await snapshotTree(rootfs);
  stateDir = join(tmp, 'state');
  driver = new RuncDriver({ stateDir, shimPath });
});

after(async () => {
  for (const [id, d] of started) await d.remove(id).catch((e: unknown) => console.error(`cleanup of ${id}:`, e));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const newId = (tag: string): string => `t-${tag}-${randomUUID().slice(0, 8)}`;

function specFor(id: string, args: string[], extra: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id,
    root: { path: rootfs, kind: 'dir' },
    mounts: [],
    devices: [],
    process: { args, env: [], cwd: '/', uid: 0, gid: 0 },
    hostname: id,
    limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64 },
    logPath: join(tmp, `${id}.log`),
    ...extra,
  };
}

async function startOn(d: RuncDriver, spec: SandboxSpec): Promise<number> {
  started.set(spec.id, d);
  return (await d.start(spec)).pid;
}

const start = (spec: SandboxSpec): Promise<number> => startOn(driver, spec);

async function removeOn(d: RuncDriver, id: string): Promise<void> {
  await d.remove(id);
  started.delete(id);
}

const logOf = (id: string): Promise<string> => readFile(join(tmp, `${id}.log`), 'utf8').catch(() => '');

function assertNothingLeft(id: string): void {
  assert.deepEqual(runcLeftovers(id, stateDir), [], 'left on the host');
  assert.deepEqual(pidsMentioning(id), [], 'processes left');
}

test('root inside is SANDBOX_ID_BASE outside; rootfs read-only, files bound, seccomp on', async () => {
  const id = newId('uid');
  const resolv = join(tmp, `${id}.resolv.conf`);
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
    const spec = specFor(id, ['/bin/sh', '-c', script], {
      mounts: [{ type: 'bind', source: resolv, target: '/etc/resolv.conf', readonly: true }],
      hostname: 'box-1',
    });
    spec.process.env = ['FOO=bar'];
    const pid = await start(spec);
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
    assert.equal(existsSync(join(rootfs, 'bin/new')), false);
  } finally {
    await removeOn(driver, id);
  }
});

test('a sandbox outlives its node process being SIGKILLed', async () => {
  const id = newId('orphan');
  const child = spawn(process.execPath, [join(repoRoot, 'dist/test/integration/runtime/child-node.js')], {
    env: { ...process.env, HANGAR_TEST_CHILD_NODE: JSON.stringify({ stateDir, shimPath, spec: specFor(id, ['/bin/sleep', '1000']) }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.set(id, driver);
  try {
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const pid = await waitFor('the child node to start the sandbox', () => (out.includes('\n') ? (JSON.parse(out) as { pid: number }).pid : 0), 10_000);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await within(gone, 5000, 'the child node to die');
    await sleep(100);
    assert.ok(processAlive(pid), 'the app survived its node');
    const shimPid = Number(readFileSync(join(driver.sandboxDir(id), 'shim.pid'), 'utf8'));
    assert.ok(processAlive(shimPid), 'the shim survived its node');
    assert.deepEqual(await driver.inspect(id), { id, state: 'running', pid });
    const exited = driver.waitExit(id);
    await driver.kill(id, 'SIGKILL');
    assert.equal((await within(exited, 5000, 'waitExit')).signal, 'SIGKILL');
  } finally {
    child.kill('SIGKILL');
    await removeOn(driver, id);
  }
  assertNothingLeft(id);
});

test('remove() of a running, then paused sandbox leaves nothing behind and is idempotent', async () => {
  const id = newId('rm');
  const pid = await start(specFor(id, ['/bin/sh', '-c', 'sleep 1000 & sleep 1000 & wait']));
  const shimPid = Number(readFileSync(join(driver.sandboxDir(id), 'shim.pid'), 'utf8'));
  const procs = (): number[] =>
    readFileSync(`/sys/fs/cgroup/pids/hangar/${id}/cgroup.procs`, 'utf8').trim().split('\n').map(Number);
  // init, sh and two sleeps
  const tasks = await waitFor('the app to fork', () => (procs().length >= 4 ? procs() : undefined));
  assert.ok(tasks.includes(pid));
  await driver.freezer.pause(id);
  await removeOn(driver, id);
  for (const p of [...tasks, shimPid]) assert.equal(processAlive(p), false, `process ${p} left`);
  assertNothingLeft(id);
  assert.equal(await driver.inspect(id), undefined);
  await driver.remove(id); // again: no error
  await driver.remove(newId('never-existed'));
  await assert.rejects(driver.waitExit(id), (e: unknown) => e instanceof HangarError && e.kind === 'not_found');
  await assert.rejects(driver.kill(id, 'SIGTERM'), (e: unknown) => e instanceof HangarError && e.kind === 'not_found');
});

{
  test('a start that fails (no such binary, init=false) rejects clearly and leaves nothing', async () => {
    const d = new RuncDriver({ stateDir, shimPath, init: false });
    const id = newId('fail');
    const err = await startOn(d, specFor(id, ['/nonexistent/app', '--flag'])).then(
      () => assert.fail('start resolved'),
      (e: unknown) => e,
    );
    started.delete(id);
    assert.ok(err instanceof HangarError, String(err));
    assert.equal(err.kind, 'unavailable');
    assert.match(err.message, /\/nonexistent\/app/);
    assert.match(err.message, /no such file or directory/i);
    assertNothingLeft(id);
    assert.equal(await d.inspect(id), undefined);
  });
}

test('without the init the app is pid 1: exit codes and SIGKILL still work', async () => {
  const d = new RuncDriver({ stateDir, shimPath, init: false });
  const a = newId('noinit');
  const b = newId('noinit');
  try {
    await startOn(d, specFor(a, ['sh', '-c', 'exit 5']));
    assert.equal((await within(d.waitExit(a), 5000, 'waitExit')).exitCode, 5);
    const pid = await startOn(d, specFor(b, ['sleep', '1000']));
    assert.equal(readFileSync(`/proc/${pid}/cmdline`, 'latin1'), 'sleep\x001000\x00');
    await d.kill(b, 'SIGKILL');
    assert.equal((await within(d.waitExit(b), 5000, 'waitExit')).signal, 'SIGKILL');
  } finally {
    await removeOn(d, a);
    await removeOn(d, b);
  }
});

test('the shared rootfs was never modified', async () => {
  assert.deepEqual(await snapshotTree(rootfs), rootfsBefore);
  assert.ok((await stat(join(rootfs, 'bin/busybox'))).uid === SANDBOX_ID_BASE);
});
