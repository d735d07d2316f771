/**
 * The pure parts of the runc driver (no runc needed): the OCI config it
 * writes, LISTEN parsing, runc log parsing and in-rootfs path resolution.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { SandboxSpec } from '../../../src/core/ports/runtime.js';
import { HangarError } from '../../../src/lib/errors.js';
import { SANDBOX_ID_BASE, SANDBOX_ID_COUNT } from '../../../src/lib/idmap.js';
import { Cgroups, keyed } from '../../../src/runtime/oci/cgroup.js';
import { hasListener } from '../../../src/runtime/oci/procnet.js';
import { resolveInRoot } from '../../../src/runtime/oci/rootfs.js';
import { logMessages } from '../../../src/runtime/oci/cli.js';
import { buildOciConfig, INIT_IN_SANDBOX } from '../../../src/runtime/oci/spec.js';

const ROOT = '/var/lib/hangar/rootfs/x';
const spec: SandboxSpec = {
  id: 'abc',
  root: { path: ROOT, kind: 'dir' },
  mounts: [
    { type: 'bind', source: '/h/hosts', target: '/etc/hosts', readonly: true },
    { type: 'bind', source: '/h/resolv.conf', target: '/etc/resolv.conf', readonly: true },
    { type: 'tmpfs', target: '/scratch', sizeBytes: 1 << 20 },
    { type: 'bind', source: '/h/vol', target: '/vol', readonly: false },
  ],
  devices: [{ path: '/dev/ukp_rom_x', source: '/h/rom.erofs', readonly: true }],
  process: { args: ['/app', '-v'], env: ['A=1'], cwd: '/srv', uid: 1000, gid: 1000 },
  hostname: 'abc',
  limits: { memoryBytes: 128 * 1024 * 1024, cpus: 0.25, pids: 100 },
  netnsPath: '/run/netns/hangar-abc',
  logPath: '/h/log',
};

type Config = {
  process: { args: string[]; env: string[]; user: { uid: number }; noNewPrivileges: boolean; rlimits: Array<{ hard: number }> };
  root: { path: string; readonly: boolean };
  mounts: Array<{ destination: string; type: string; source: string; options?: string[] }>;
  linux: {
    uidMappings: unknown[];
    namespaces: Array<{ type: string; path?: string }>;
    cgroupsPath: string;
    resources: { memory: { limit: number; swap: number }; cpu: { quota: number; period: number }; pids: { limit: number } };
    seccomp: { syscalls: Array<{ names: string[] }> };
  };
};

test('the OCI config isolates the sandbox and keeps the shared rootfs read-only', () => {
  const c = buildOciConfig(spec, { cgroupsPath: '/hangar/abc', cgroupNamespace: true, nofile: 4096, initPath: '/opt/hangar-shim' }) as unknown as Config;
  assert.deepEqual(c.root, { path: ROOT, readonly: true });
  assert.deepEqual(c.process.args, [INIT_IN_SANDBOX, '--init', '/app', '-v']);
  assert.equal(c.process.env[0]?.startsWith('PATH='), true, 'a default PATH is added');
  assert.equal(c.process.user.uid, 1000);
  assert.equal(c.process.noNewPrivileges, true);
  assert.equal(c.process.rlimits[0]?.hard, 4096);
  assert.deepEqual(c.linux.uidMappings, [{ containerID: 0, hostID: SANDBOX_ID_BASE, size: SANDBOX_ID_COUNT }]);
  assert.deepEqual(
    c.linux.namespaces.map((n) => n.type).sort(),
    ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'],
  );
  assert.equal(c.linux.namespaces.find((n) => n.type === 'network')?.path, spec.netnsPath);
  assert.equal(c.linux.cgroupsPath, '/hangar/abc');
  assert.deepEqual(c.linux.resources.memory, { limit: 128 * 1024 * 1024, swap: 128 * 1024 * 1024 });
  assert.deepEqual(c.linux.resources.cpu, { quota: 25_000, period: 100_000 });
  assert.equal(c.linux.resources.pids.limit, 100);
  const byDest = new Map(c.mounts.map((m) => [m.destination, m]));
  assert.equal(byDest.get('/sys')?.type, 'none', 'a joined netns gets a read-only bind of /sys');
  assert.ok(byDest.get('/sys')?.options?.includes('ro'));
  assert.ok(byDest.get('/tmp')?.options?.includes(`size=${128 * 1024 * 1024}`));
  assert.deepEqual(byDest.get('/etc/hosts')?.options?.slice(0, 2), ['bind', 'ro']);
  assert.equal(byDest.get(INIT_IN_SANDBOX)?.source, '/opt/hangar-shim');
  assert.deepEqual(byDest.get('/scratch'), { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=1048576'] });
  assert.deepEqual(byDest.get('/vol')?.options, ['bind', 'nosuid', 'nodev'], 'a writable bind');
  assert.equal(byDest.get('/dev/ukp_rom_x')?.source, '/h/rom.erofs');
  assert.ok(byDest.get('/dev/ukp_rom_x')?.options?.includes('ro'), 'a ROM is read-only');
  const order = c.mounts.map((m) => m.destination);
  assert.ok(order.indexOf('/etc/hosts') < order.indexOf('/etc/resolv.conf') && order.indexOf('/etc/resolv.conf') < order.indexOf('/scratch'), 'spec order kept');
  const denied = c.linux.seccomp.syscalls.flatMap((s) => s.names);
  for (const s of ['mount', 'kexec_load', 'bpf', 'ptrace', 'setns', 'unshare', 'io_uring_setup', 'io_uring_enter', 'io_uring_register']) assert.ok(denied.includes(s), s);

  const ranged = buildOciConfig({ ...spec, idMapBase: SANDBOX_ID_BASE + 3 * SANDBOX_ID_COUNT }, { cgroupsPath: '/h/r', cgroupNamespace: false, nofile: 1024 }) as unknown as Config;
  assert.deepEqual(ranged.linux.uidMappings, [{ containerID: 0, hostID: SANDBOX_ID_BASE + 3 * SANDBOX_ID_COUNT, size: SANDBOX_ID_COUNT }], 'the spec\'s own range');

  const own = buildOciConfig({ ...spec, netnsPath: undefined }, { cgroupsPath: '/h/abc', cgroupNamespace: false, nofile: 1024 }) as unknown as Config;
  assert.deepEqual(own.process.args, ['/app', '-v']);
  assert.equal(own.linux.namespaces.find((n) => n.type === 'network')?.path, undefined);
  assert.equal(own.linux.namespaces.some((n) => n.type === 'cgroup'), false);
  assert.equal(own.mounts.find((m) => m.destination === '/sys')?.type, 'sysfs');
});

test('with host mounts the config boots the private root, binds the netns sysfs, the shared image mount and the file copies', () => {
  const withRom: SandboxSpec = { ...spec, mounts: [...spec.mounts, { type: 'image', source: '/h/rom.erofs', target: '/rom', fsType: 'erofs', readonly: true }] };
  const host = {
    root: { path: '/s/roots/abc/rootfs', readonly: false },
    sysfs: '/s/roots/abc/sys',
    images: new Map([['/h/rom.erofs', '/s/images/k1']]),
    copies: new Map([['/h/hosts', '/s/roots/abc/w/files/0']]),
  };
  const c = buildOciConfig(withRom, { cgroupsPath: '/h/abc', cgroupNamespace: false, nofile: 1024, host }) as unknown as Config;
  assert.deepEqual(c.root, { path: '/s/roots/abc/rootfs', readonly: false });
  const byDest = new Map(c.mounts.map((m) => [m.destination, m]));
  assert.equal(byDest.get('/sys')?.source, '/s/roots/abc/sys');
  assert.ok(byDest.get('/sys')?.options?.includes('ro'));
  assert.deepEqual(byDest.get('/rom'), { destination: '/rom', type: 'none', source: '/s/images/k1', options: ['bind', 'ro', 'nosuid', 'nodev'] });
  assert.equal(byDest.get('/etc/hosts')?.source, '/s/roots/abc/w/files/0', 'a copied file is bound from its copy');
  assert.equal(byDest.get('/etc/resolv.conf')?.source, '/h/resolv.conf', 'not copied: bound from the host');
  assert.equal(byDest.get('/vol')?.source, '/h/vol', 'a writable bind is never a copy');
  assert.ok(!(c as unknown as { linux: { maskedPaths: string[] } }).linux.maskedPaths.some((p) => p.includes('/net')), 'no interface masking');
  assert.throws(
    () => buildOciConfig(withRom, { cgroupsPath: '/h/abc', cgroupNamespace: false, nofile: 1024 }),
    (e: unknown) => e instanceof HangarError && e.kind === 'failed_precondition' && /not mounted on the host/.test(e.message),
  );
});

test('LISTEN sockets are found in /proc/net/tcp tables', () => {
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const established = '   0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1\n';
  const listen = '   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 100000        0 2 1 0 100 0 0 10 0\n';
  assert.equal(hasListener(header), false);
  assert.equal(hasListener(header + established), false);
  assert.equal(hasListener(header + established + listen), true);
  assert.equal(hasListener(''), false);
});

test('runc errors are taken from its JSON log lines', () => {
  const log =
    '{"level":"warning","msg":"something minor","time":"x"}\n' +
    '{"level":"error","msg":"runc run failed: exec: \\"/x\\": no such file","time":"x"}\n' +
    '{"level":"error","msg":"runc run failed: exec: \\"/x\\": no such file","time":"x"}\n';
  assert.equal(logMessages(log), 'runc run failed: exec: "/x": no such file');
  assert.equal(logMessages('plain text error\n'), 'plain text error');
});

test('paths resolve inside the rootfs, symlinks included, never outside it', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hangar-resolve-'));
  try {
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    await writeFile(join(root, 'usr/bin/app'), '');
    await symlink('usr/bin', join(root, 'bin'));
    await symlink('/usr/bin/app', join(root, 'abs-link'));
    await symlink('../../../../../etc', join(root, 'escape'));
    await symlink('loop', join(root, 'loop'));
    assert.equal(await resolveInRoot(root, '/bin/app'), join(root, 'usr/bin/app'));
    assert.equal(await resolveInRoot(root, '/abs-link'), join(root, 'usr/bin/app'));
    assert.equal(await resolveInRoot(root, '/escape'), undefined, 'the host /etc is not reached: root has no etc');
    assert.equal(await resolveInRoot(root, '/../../usr/bin'), join(root, 'usr/bin'));
    assert.equal(await resolveInRoot(root, '/loop'), undefined);
    assert.equal(await resolveInRoot(root, '/'), root);
    assert.equal(await resolveInRoot(root, '/missing/x'), undefined);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('cgroup files and mounts are parsed for v1 and v2 hosts', () => {
  assert.equal(keyed('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n', 'oom_kill'), 2);
  assert.equal(keyed('cache 1\ntotal_rss 4096\n', 'total_rss'), 4096);
  const v1 = new Cgroups('cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\ncgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n');
  assert.equal(v1.v2, false);
  assert.equal(v1.oomFile('/hangar/a'), '/sys/fs/cgroup/memory/hangar/a/memory.oom_control');
  const v2 = new Cgroups('cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n');
  assert.equal(v2.v2, true);
  assert.equal(v2.oomFile('/hangar/a'), '/sys/fs/cgroup/hangar/a/memory.events');
});
