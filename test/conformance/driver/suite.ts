/**
 * The conformance suite every RuntimeDriver passes (the contract in
 * src/core/ports/runtime.ts), written once and run per driver by a
 * `<driver>.test.ts` beside it. Real sandboxes from a busybox rootfs, a
 * network namespace of the suite's own with a veth pair to the host. Needs
 * root. Importing this file registers no test.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chown, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { RuntimeDriver, SandboxMount, SandboxMountType, SandboxSpec } from '../../../src/core/ports/runtime.js';
import { HangarError } from '../../../src/lib/errors.js';
import { SANDBOX_ID_BASE } from '../../../src/lib/idmap.js';
import { tcpConnectProbe } from '../../../src/runtime/probe.js';
import { processAlive, sleep, waitFor, within } from '../../integration/runtime/fixtures.js';
import { useSandboxes } from '../../integration/runtime/sandboxes.js';
import { viewCases } from './suite-view.js';

export interface DriverHarness {
  name: string;
  /** A driver keeping its state in `stateDir`; a second call with the same dir is that driver after a node restart. */
  make(stateDir: string): RuntimeDriver;
  /** What the driver left on the host for sandbox `id` (processes, cgroups, runtime state); empty = nothing. */
  leftovers(id: string, stateDir: string): string[];
  /** Whether sandbox `id` is frozen as the host sees it (beyond what inspect reports). */
  frozen?(id: string): boolean;
}

const ALL_MOUNT_TYPES: readonly SandboxMountType[] = ['bind', 'tmpfs', 'overlay', 'image'];

export function driverConformance(h: DriverHarness): void {
  describe(`${h.name} driver conformance`, () => {
    const sb = useSandboxes({ tag: `${h.name}c`, make: (dir) => h.make(dir), leftovers: (id, dir) => h.leftovers(id, dir), netns: true });
    const newId = (tag: string): string => sb.newId(tag);
    const specFor = (id: string, args: string[], extra: Partial<SandboxSpec> = {}): SandboxSpec => sb.specFor(id, args, extra);
    const start = (spec: SandboxSpec): Promise<number> => sb.start(spec);
    const removeOn = (d: RuntimeDriver, id: string): Promise<void> => sb.removeOn(d, id);
    const logOf = (id: string): Promise<string> => sb.logOf(id);

    const fetchText = async (url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> => {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      return { status: res.status, body: await res.text() };
    };

    test('serves HTTP from a sandbox in a netns; the readiness probe turns true; stats() are non-zero', async () => {
      assert.ok(sb.net);
      const id = newId('http');
      const target = { id, ip: sb.net.sandboxIp, netnsPath: sb.net.path, ports: [8080] };
      try {
        const pid = await start(specFor(id, ['/bin/sh', '-c', 'sleep 0.5; exec httpd -f -p 8080 -h /www'], { netnsPath: sb.net.path }));
        assert.ok(processAlive(pid));
        assert.equal(await sb.driver.readiness.ready(target), false, 'nothing listens before httpd runs');
        assert.equal(await tcpConnectProbe.ready(target), false, 'nothing accepts before httpd runs');
        await waitFor('httpd to listen', () => sb.driver.readiness.ready(target), 5000, 5);
        assert.equal(await tcpConnectProbe.ready(target), true, 'the host-side probe works for this sandbox too');
        const res = await fetchText(`http://${sb.net.sandboxIp}:8080/index.html`);
        assert.equal(res.status, 200);
        assert.equal(res.body, 'hello from hangar\n');
        const st = await sb.driver.stats(id);
        assert.ok(st.rssBytes > 0, `rss ${st.rssBytes}`);
        assert.ok(st.cpuTimeMs > 0, `cpu ${st.cpuTimeMs}`);
        const info = await sb.driver.inspect(id);
        assert.equal(info?.state, 'running');
        assert.equal(info?.pid, pid);
      } finally {
        await removeOn(sb.driver, id);
      }
    });

    test('a Freezer, when the driver has one, freezes every process and thaws them', async (t) => {
      const freezer = sb.driver.freezer;
      if (!freezer) {
        t.diagnostic(`${h.name} has no freezer: the node refuses to suspend its instances`);
        return;
      }
      assert.ok(sb.net);
      const id = newId('pause');
      const target = { id, ip: sb.net.sandboxIp, ports: [8080] };
      try {
        await start(specFor(id, ['/bin/sh', '-c', 'httpd -p 8080 -h /www; while true; do echo tick; usleep 20000; done'], { netnsPath: sb.net.path }));
        await waitFor('httpd to listen', () => sb.driver.readiness.ready(target), 5000, 5);
        await waitFor('ticks', async () => (await logOf(id)).includes('tick'));
        await freezer.pause(id);
        assert.equal((await sb.driver.inspect(id))?.state, 'paused');
        if (h.frozen) assert.equal(h.frozen(id), true, 'frozen as the host sees it');
        const frozenLog = await logOf(id);
        await assert.rejects(fetchText(`http://${sb.net.sandboxIp}:8080/index.html`, 500), 'a frozen httpd does not answer');
        await sleep(200);
        assert.equal(await logOf(id), frozenLog, 'the tick loop is frozen');
        await freezer.resume(id);
        assert.equal((await sb.driver.inspect(id))?.state, 'running');
        assert.equal((await fetchText(`http://${sb.net.sandboxIp}:8080/index.html`)).status, 200);
        await waitFor('ticks after resume', async () => (await logOf(id)).length > frozenLog.length);
      } finally {
        await removeOn(sb.driver, id);
      }
    });

    test('reports the exit code of the app', async () => {
      const id = newId('exit');
      try {
        await start(specFor(id, ['sh', '-c', 'sleep 0.2; exit 3']));
        await assert.rejects(sb.driver.start(specFor(id, ['sh'])), (e: unknown) => e instanceof HangarError && e.kind === 'already_exists');
        const exit = await within(sb.driver.waitExit(id), 5000, 'waitExit');
        assert.equal(exit.exitCode, 3);
        assert.equal(exit.signal, null);
        assert.equal(exit.oomKilled, false);
        assert.ok(Math.abs(exit.at.getTime() - Date.now()) < 10_000);
        const info = await sb.driver.inspect(id);
        assert.equal(info?.state, 'stopped');
        assert.equal(info?.exit?.exitCode, 3);
        assert.equal((await sb.driver.waitExit(id)).exitCode, 3, 'waitExit after the exit resolves at once');
      } finally {
        await removeOn(sb.driver, id);
      }
    });

    test('appends stdout and stderr to logPath', async () => {
      const id = newId('log');
      const spec = specFor(id, ['/bin/sh', '-c', 'echo to-stdout; echo to-stderr >&2']);
      await writeFile(spec.logPath, 'existing line\n');
      try {
        await start(spec);
        assert.equal((await within(sb.driver.waitExit(id), 5000, 'waitExit')).exitCode, 0);
        assert.equal(await readFile(spec.logPath, 'utf8'), 'existing line\nto-stdout\nto-stderr\n');
      } finally {
        await removeOn(sb.driver, id);
      }
    });

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      test(`kill ${signal} ends an app without a handler and reports the signal`, async () => {
        const id = newId('kill');
        try {
          await start(specFor(id, ['/bin/sleep', '1000']));
          await sb.driver.kill(id, signal);
          const exit = await within(sb.driver.waitExit(id), 5000, 'waitExit');
          assert.equal(exit.signal, signal);
          assert.equal(exit.exitCode, null);
          assert.equal(exit.oomKilled, false);
          await sb.driver.kill(id, 'SIGKILL'); // a stopped sandbox: no error
        } finally {
          await removeOn(sb.driver, id);
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
        const exit = await within(sb.driver.waitExit(id), 20_000, 'waitExit');
        assert.equal(exit.oomKilled, true);
        assert.equal(exit.signal, 'SIGKILL');
        assert.doesNotMatch(await logOf(id), /survived/);
      } finally {
        await removeOn(sb.driver, id);
      }
    });

    test('mounts apply in order over a read-only rootfs; devices read as their bytes', async () => {
      const id = newId('mounts');
      const hostDir = join(sb.tmp, `${id}-dir`);
      await mkdir(hostDir);
      await chown(hostDir, SANDBOX_ID_BASE, SANDBOX_ID_BASE);
      const resolv = join(sb.tmp, `${id}.resolv.conf`);
      await writeFile(resolv, 'nameserver 10.251.0.53\n');
      const rom = join(sb.tmp, `${id}.rom`);
      await writeFile(rom, 'rom-bytes\n');
      const mounts: SandboxMount[] = [
        { type: 'bind', source: resolv, target: '/etc/resolv.conf', readonly: true },
        { type: 'bind', source: hostDir, target: '/data', readonly: false },
        { type: 'tmpfs', target: '/mnt', sizeBytes: 1024 * 1024 },
        // Inside the tmpfs above: made there, not in the rootfs.
        { type: 'bind', source: resolv, target: '/mnt/inner', readonly: true },
      ];
      const script = [
        'cat /etc/resolv.conf',
        '(echo x >> /etc/resolv.conf) 2>/dev/null || echo bind-readonly',
        'echo written > /data/out && echo data-rw',
        'echo t > /mnt/t && cat /mnt/t',
        'cat /mnt/inner',
        'cat /dev/ukp_rom_test',
        '(echo x > /dev/ukp_rom_test) 2>/dev/null || echo rom-readonly',
        'touch /bin/new 2>/dev/null || echo rootfs-readonly',
      ].join('; ');
      try {
        await start(specFor(id, ['/bin/sh', '-c', script], { mounts, devices: [{ path: '/dev/ukp_rom_test', source: rom, readonly: true }] }));
        assert.equal((await within(sb.driver.waitExit(id), 5000, 'waitExit')).exitCode, 0);
        assert.equal(
          await logOf(id),
          'nameserver 10.251.0.53\nbind-readonly\ndata-rw\nt\nnameserver 10.251.0.53\nrom-bytes\nrom-readonly\nrootfs-readonly\n',
        );
        assert.equal(await readFile(join(hostDir, 'out'), 'utf8'), 'written\n');
        assert.equal(await readFile(rom, 'utf8'), 'rom-bytes\n');
        assert.equal(existsSync(join(sb.rootfs, 'mnt/inner')), false);
      } finally {
        await removeOn(sb.driver, id);
      }
    });

    test('a mount type the driver lacks is refused before anything is made', async () => {
      const missing = ALL_MOUNT_TYPES.filter((t) => !sb.driver.mountTypes.includes(t));
      const examples: Record<SandboxMountType, SandboxMount> = {
        bind: { type: 'bind', source: sb.rootfs, target: '/mnt', readonly: true },
        tmpfs: { type: 'tmpfs', target: '/mnt', sizeBytes: 1024 * 1024 },
        overlay: { type: 'overlay', target: '/mnt', lower: [join(sb.rootfs, 'www')] },
        image: { type: 'image', source: join(sb.tmp, 'no.erofs'), target: '/mnt', fsType: 'erofs', readonly: true },
      };
      for (const type of missing) {
        const id = newId(`no-${type}`);
        await assert.rejects(start(specFor(id, ['/bin/true'], { mounts: [examples[type]] })), (e: unknown) => {
          assert.ok(e instanceof HangarError, String(e));
          assert.equal(e.kind, 'failed_precondition');
          assert.match(e.message, new RegExp(type));
          return true;
        });
        sb.forget(id);
        sb.assertNothingLeft(id);
      }
    });

    test('several sandboxes start, list and go away concurrently', async () => {
      const ids = [0, 1, 2, 3].map(() => newId('many'));
      try {
        const pids = await Promise.all(ids.map((id) => start(specFor(id, ['/bin/sleep', '1000']))));
        assert.equal(new Set(pids).size, ids.length);
        const listed = (await sb.driver.list()).filter((s) => ids.includes(s.id));
        assert.deepEqual(
          listed.map((s) => [s.id, s.state, s.pid]),
          ids.map((id, i) => [id, 'running', pids[i]]).sort(),
        );
      } finally {
        await Promise.all(ids.map((id) => removeOn(sb.driver, id)));
      }
      for (const id of ids) sb.assertNothingLeft(id);
    });

    test('a new driver on the same stateDir adopts running sandboxes (node restart)', async () => {
      const id = newId('adopt');
      const other = newId('adopt2');
      const restarted = h.make(sb.stateDir);
      try {
        const pid = await start(specFor(id, ['/bin/sleep', '1000']));
        await start(specFor(other, ['sh', '-c', 'exit 7']));
        await within(sb.driver.waitExit(other), 5000, 'waitExit');
        sb.handOver(id, restarted);
        sb.handOver(other, restarted);
        const list = await restarted.list();
        assert.deepEqual(
          list.filter((s) => s.id === id),
          [{ id, state: 'running', pid }],
        );
        const stopped = list.find((s) => s.id === other);
        assert.equal(stopped?.state, 'stopped');
        assert.equal(stopped?.exit?.exitCode, 7);
        assert.equal((await restarted.inspect(id))?.state, 'running');
        assert.equal(await restarted.readiness.ready({ id, ports: [] }), false);
        const exited = restarted.waitExit(id);
        await sleep(300); // waitExit is polling the adopted sandbox now
        await restarted.kill(id, 'SIGTERM');
        const exit = await within(exited, 5000, 'waitExit of an adopted sandbox');
        assert.equal(exit.signal, 'SIGTERM');
      } finally {
        await removeOn(restarted, id);
        await removeOn(restarted, other);
      }
      sb.assertNothingLeft(id);
      sb.assertNothingLeft(other);
    });

    test('remove() of a running (then frozen) sandbox leaves nothing behind and is idempotent', async () => {
      const id = newId('rm');
      const pid = await start(specFor(id, ['/bin/sh', '-c', 'sleep 1000 & sleep 1000 & wait']));
      await sb.driver.freezer?.pause(id);
      await removeOn(sb.driver, id);
      assert.equal(processAlive(pid), false, 'the app is gone');
      sb.assertNothingLeft(id);
      assert.equal(await sb.driver.inspect(id), undefined);
      await sb.driver.remove(id); // again: no error
      await sb.driver.remove(newId('never-existed'));
      await assert.rejects(sb.driver.waitExit(id), (e: unknown) => e instanceof HangarError && e.kind === 'not_found');
      await assert.rejects(sb.driver.kill(id, 'SIGTERM'), (e: unknown) => e instanceof HangarError && e.kind === 'not_found');
    });

    test('a start that fails (no such binary) rejects clearly and leaves nothing', () => sb.assertFailedStartIsClean(sb.driver));

    test('a rootfs without a mountpoint or mount target is refused without writing to it', async () => {
      const bare = join(sb.tmp, 'bare-rootfs');
      await cp(sb.rootfs, bare, { recursive: true, verbatimSymlinks: true });
      await rm(join(bare, 'run'), { recursive: true });
      const id = newId('bare');
      await assert.rejects(start(specFor(id, ['/bin/true'], { root: { path: bare, kind: 'dir' } })), (e: unknown) => {
        assert.ok(e instanceof HangarError);
        assert.equal(e.kind, 'failed_precondition');
        assert.match(e.message, /mountpoint directory \/run/);
        return true;
      });
      assert.equal(existsSync(join(bare, 'run')), false);
      const hosts = join(sb.tmp, 'hosts');
      await writeFile(hosts, '127.0.0.1 localhost\n');
      const mounts: SandboxMount[] = [{ type: 'bind', source: hosts, target: '/etc/missing-file', readonly: true }];
      await assert.rejects(start(specFor(id, ['/bin/true'], { mounts })), /\/etc\/missing-file/);
      assert.equal(existsSync(join(sb.rootfs, 'etc/missing-file')), false);
      sb.assertNothingLeft(id);
      sb.forget(id);
    });

    viewCases(h, sb);

    test('the shared rootfs was never modified', () => sb.assertRootfsUnmodified());
  });
}
