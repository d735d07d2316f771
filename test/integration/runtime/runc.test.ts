/**
 * The runc driver against real runc: sandboxes from a busybox rootfs, a
 * network namespace of the test's own with a veth pair to the host, real
 * cgroups. Needs root, runc, ip, make and gcc (static libc).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SandboxSpec } from '../../../src/core/ports/runtime.js';
import { HangarError } from '../../../src/lib/errors.js';
import { SANDBOX_ID_BASE } from '../../../src/lib/idmap.js';
import { RuncDriver } from '../../../src/runtime/runc/driver.js';
import {
  buildShim,
  createNetns,
  makeBusyboxRootfs,
  processAlive,
  repoRoot,
  sleep,
  snapshotTree,
  waitFor,
  within,
  type TestNetns,
} from './fixtures.js';

let tmp = '';
let rootfs = '';
let stateDir = '';
let shimPath = '';
let driver: RuncDriver;
let net: TestNetns | undefined;
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
  net = createNetns('runc');
});

after(async () => {
  for (const [id, d] of started) await d.remove(id).catch((e: unknown) => console.error(`cleanup of ${id}:`, e));
  net?.destroy();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const newId = (tag: string): string => `t-${tag}-${randomUUID().slice(0, 8)}`;

function specFor(id: string, args: string[], extra: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id,
    rootfs,
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

/** The cgroup hierarchies of this host that hold a directory for the sandbox. */
function cgroupDirs(id: string): string[] {
  const found: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const d = join('/sys/fs/cgroup', h, 'hangar', id);
    if (existsSync(d)) found.push(d);
  }
  return found;
}

function runcKnows(id: string): boolean {
  try {
    execFileSync('runc', ['--root', join(stateDir, 'runc'), 'state', id], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** Pids of processes whose command line mentions `s` (to find stray shims). */
function pidsMentioning(s: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'latin1').includes(s)) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function assertNothingLeft(id: string): void {
  assert.deepEqual(cgroupDirs(id), [], 'cgroup directories left');
  assert.equal(runcKnows(id), false, 'runc still has the container');
  assert.equal(existsSync(join(stateDir, 'sandboxes', id)), false, 'sandbox dir left');
  assert.deepEqual(pidsMentioning(id), [], 'processes left');
}

async function fetchText(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

test('serves HTTP from a sandbox in a netns; listening() turns true; stats() are non-zero', async () => {
  assert.ok(net);
  const id = newId('http');
  try {
    const pid = await start(
      specFor(id, ['/bin/sh', '-c', 'sleep 0.5; exec httpd -f -p 8080 -h /www'], { netnsPath: net.path }),
    );
    assert.ok(processAlive(pid));
    assert.equal(await driver.listening(id), false, 'nothing listens before httpd runs');
    await waitFor('httpd to listen', () => driver.listening(id), 5000, 5);
    const res = await fetchText(`http://${net.sandboxIp}:8080/index.html`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hello from hangar\n');
    const st = await driver.stats(id);
    assert.ok(st.rssBytes > 0, `rss ${st.rssBytes}`);
    assert.ok(st.cpuTimeMs > 0, `cpu ${st.cpuTimeMs}`);
    const info = await driver.inspect(id);
    assert.equal(info?.state, 'running');
    assert.equal(info?.pid, pid);
  } finally {
    await removeOn(driver, id);
  }
});

test('pause freezes every process of the sandbox and resume thaws it', async () => {
  assert.ok(net);
  const id = newId('pause');
  try {
    await start(
      specFor(id, ['/bin/sh', '-c', 'httpd -p 8080 -h /www; while true; do echo tick; usleep 20000; done'], {
        netnsPath: net.path,
      }),
    );
    await waitFor('httpd to listen', () => driver.listening(id), 5000, 5);
    await waitFor('ticks', async () => (await logOf(id)).includes('tick'));
    await driver.pause(id);
    assert.equal((await driver.inspect(id))?.state, 'paused');
    assert.equal(readFileSync(`/sys/fs/cgroup/freezer/hangar/${id}/freezer.state`, 'utf8').trim(), 'FROZEN');
    const frozenLog = await logOf(id);
    await assert.rejects(fetchText(`http://${net.sandboxIp}:8080/index.html`, 500), 'a frozen httpd does not answer');
    await sleep(200);
    assert.equal(await logOf(id), frozenLog, 'the tick loop is frozen');
    await driver.resume(id);
    assert.equal((await driver.inspect(id))?.state, 'running');
    assert.equal((await fetchText(`http://${net.sandboxIp}:8080/index.html`)).status, 200);
    await waitFor('ticks after resume', async () => (await logOf(id)).length > frozenLog.length);
  } finally {
    await removeOn(driver, id);
  }
});

test('reports the exit code of the app', async () => {
  const id = newId('exit');
  try {
    await start(specFor(id, ['sh', '-c', 'sleep 0.2; exit 3']));
    await assert.rejects(driver.start(specFor(id, ['sh'])), (e: unknown) => e instanceof HangarError && e.kind === 'already_exists');
    const exit = await within(driver.waitExit(id), 5000, 'waitExit');
    assert.equal(exit.exitCode, 3);
    assert.equal(exit.signal, null);
    assert.equal(exit.oomKilled, false);
    assert.ok(Math.abs(exit.at.getTime() - Date.now()) < 10_000);
    const info = await driver.inspect(id);
    assert.equal(info?.state, 'stopped');
    assert.equal(info?.exit?.exitCode, 3);
    assert.equal((await driver.waitExit(id)).exitCode, 3, 'waitExit after the exit resolves at once');
  } finally {
    await removeOn(driver, id);
  }
});

test('appends stdout and stderr to logPath', async () => {
  const id = newId('log');
  const spec = specFor(id, ['/bin/sh', '-c', 'echo to-stdout; echo to-stderr >&2']);
  await writeFile(spec.logPath, 'existing line\n');
  try {
    await start(spec);
    assert.equal((await within(driver.waitExit(id), 5000, 'waitExit')).exitCode, 0);
    assert.equal(await readFile(spec.logPath, 'utf8'), 'existing line\nto-stdout\nto-stderr\n');
  } finally {
    await removeOn(driver, id);
  }
});

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`kill ${signal} ends an app without a handler and reports the signal`, async () => {
    const id = newId('kill');
    try {
      await start(specFor(id, ['/bin/sleep', '1000']));
      await driver.kill(id, signal);
      const exit = await within(driver.waitExit(id), 5000, 'waitExit');
      assert.equal(exit.signal, signal);
      assert.equal(exit.exitCode, null);
      assert.equal(exit.oomKilled, false);
      await driver.kill(id, 'SIGKILL'); // a stopped sandbox: no error
    } finally {
      await removeOn(driver, id);
    }
  });
}

test('an app that exceeds its memory limit is OOM-killed and reported', async () => {
  const id = newId('oom');
  try {
    await start(
      specFor(id, ['/bin/sh', '-c', 'x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived ${#x}'], {
        limits: { memoryBytes: 16 * 1024 * 1024, cpus: 1, pids: 64 },
      }),
    );
    const exit = await within(driver.waitExit(id), 20_000, 'waitExit');
    assert.equal(exit.oomKilled, true);
    assert.equal(exit.signal, 'SIGKILL');
    assert.doesNotMatch(await logOf(id), /survived/);
  } finally {
    await removeOn(driver, id);
  }
});

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
    const spec = specFor(id, ['/bin/sh', '-c', script], { files: { '/etc/resolv.conf': resolv }, hostname: 'box-1' });
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

test('several sandboxes start, list and go away concurrently', async () => {
  const ids = [0, 1, 2, 3].map(() => newId('many'));
  try {
    const pids = await Promise.all(ids.map((id) => start(specFor(id, ['/bin/sleep', '1000']))));
    assert.equal(new Set(pids).size, ids.length);
    const listed = (await driver.list()).filter((s) => ids.includes(s.id));
    assert.deepEqual(
      listed.map((s) => [s.id, s.state, s.pid]),
      ids.map((id, i) => [id, 'running', pids[i]]).sort(),
    );
  } finally {
    await Promise.all(ids.map((id) => removeOn(driver, id)));
  }
  for (const id of ids) assertNothingLeft(id);
});

test('a new driver on the same stateDir adopts running sandboxes (node restart)', async () => {
  const id = newId('adopt');
  const other = newId('adopt2');
  const restarted = new RuncDriver({ stateDir, shimPath });
  try {
    const pid = await start(specFor(id, ['/bin/sleep', '1000']));
    await start(specFor(other, ['sh', '-c', 'exit 7']));
    await within(driver.waitExit(other), 5000, 'waitExit');
    started.set(id, restarted);
    started.set(other, restarted);
    const list = await restarted.list();
    assert.deepEqual(
      list.filter((s) => s.id === id),
      [{ id, state: 'running', pid }],
    );
    const stopped = list.find((s) => s.id === other);
    assert.equal(stopped?.state, 'stopped');
    assert.equal(stopped?.exit?.exitCode, 7);
    assert.equal((await restarted.inspect(id))?.state, 'running');
    assert.equal(await restarted.listening(id), false);
    const exited = restarted.waitExit(id);
    await sleep(300); // waitExit is polling the adopted sandbox now
    await restarted.kill(id, 'SIGTERM');
    const exit = await within(exited, 5000, 'waitExit of an adopted sandbox');
    assert.equal(exit.signal, 'SIGTERM');
  } finally {
    await removeOn(restarted, id);
    await removeOn(restarted, other);
  }
  assertNothingLeft(id);
  assertNothingLeft(other);
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
  await driver.pause(id);
  await removeOn(driver, id);
  for (const p of [...tasks, shimPid]) assert.equal(processAlive(p), false, `process ${p} left`);
  assertNothingLeft(id);
  assert.equal(await driver.inspect(id), undefined);
  await driver.remove(id); // again: no error
  await driver.remove(newId('never-existed'));
  await assert.rejects(driver.waitExit(id), (e: unknown) => e instanceof HangarError && e.kind === 'not_found');
  await assert.rejects(driver.kill(id, 'SIGTERM'), (e: unknown) => e instanceof HangarError && e.kind === 'not_found');
});

for (const init of [true, false]) {
  test(`a start that fails (no such binary, init=${init}) rejects clearly and leaves nothing`, async () => {
    const d = init ? driver : new RuncDriver({ stateDir, shimPath, init: false });
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

test('a rootfs without a mountpoint or bind target is refused without writing to it', async () => {
  const bare = join(tmp, 'bare-rootfs');
  await cp(rootfs, bare, { recursive: true, verbatimSymlinks: true });
  await rm(join(bare, 'run'), { recursive: true });
  const id = newId('bare');
  await assert.rejects(start(specFor(id, ['/bin/true'], { rootfs: bare })), (e: unknown) => {
    assert.ok(e instanceof HangarError);
    assert.equal(e.kind, 'failed_precondition');
    assert.match(e.message, /mountpoint directory \/run/);
    return true;
  });
  assert.equal(existsSync(join(bare, 'run')), false);
  const hosts = join(tmp, 'hosts');
  await writeFile(hosts, '127.0.0.1 localhost\n');
  await assert.rejects(start(specFor(id, ['/bin/true'], { files: { '/etc/missing-file': hosts } })), /\/etc\/missing-file/);
  assert.equal(existsSync(join(rootfs, 'etc/missing-file')), false);
  assertNothingLeft(id);
  started.delete(id);
});

test('the shared rootfs was never modified', async () => {
  assert.deepEqual(await snapshotTree(rootfs), rootfsBefore);
  assert.ok((await stat(join(rootfs, 'bin/busybox'))).uid === SANDBOX_ID_BASE);
});
