/**
 * The raw baseline: plain `runc run -d` of the same shared rootfs the node uses,
 * in a network namespace + veth pair this bench makes before the timer starts.
 *
 * Four variants:
 *  - 'minimal': hand-written, like `runc spec` (user namespace 0→100000 ×65536,
 *    pid/ipc/uts/mount/user namespaces, the prepared netns, read-only root,
 *    /proc, /dev tmpfs, devpts, shm, mqueue, /sys bind), app is pid 1, no limits.
 *  - 'hangar-spec': the node's own buildOciConfig() (seccomp, cgroup limits,
 *    capabilities, masked paths…) but the app as pid 1 and no file binds.
 *  - 'hangar-full': exactly the config.json the node's runc driver writes
 *    (hangar-shim --init as pid 1, /etc/resolv.conf and /etc/hosts binds), run
 *    by plain runc without the shim around it.
 *  - 'driver': the node's RuncDriver.start() with that same spec (hangar-shim
 *    spawning runc, the init's exec handshake), in this process but outside
 *    the node: no API, no store, no prewarm pool refilling beside it.
 * Together they split the API's start time into spec, init, driver and node costs.
 *
 * Everything lives under names private to this run: a temp dir (bundles and
 * runc --root), netns `hgr<tag>-<k>`, host veths `hgr<tag>h<k>`, addresses
 * 10.250.x.(4k+1|4k+2)/30 in a /24 nothing on the host uses, cgroups under
 * /hangar-bench-<tag>. close() removes all of it and reports leftovers.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../src/lib/exec.js';
import { SANDBOX_ID_BASE, SANDBOX_ID_COUNT } from '../src/lib/idmap.js';
import type { ResolvedImage } from '../src/core/ports/images.js';
import type { SandboxSpec } from '../src/core/ports/runtime.js';
import { PIDS_LIMIT } from '../src/core/instances/sandbox-spec.js';
import { RuncDriver } from '../src/runtime/runc/driver.js';
import { hasCgroupNamespace, sandboxNofile } from '../src/runtime/oci/host.js';
import { buildOciConfig } from '../src/runtime/oci/spec.js';
import { cgroupExists, firstByte, freeBlock, HELLO_PORT, now, removeCgroup, REPO } from './harness.js';

export type RawVariant = 'minimal' | 'hangar-spec' | 'hangar-full' | 'driver';

export interface RawRun {
  /** spawn of `runc run -d` → runc exited (container started), ms. */
  runMs: number;
  /** spawn → first HTTP byte from the app, ms. */
  firstByteMs: number;
}

const SLOTS = 64;
const SHIM = join(REPO, 'build', 'bin', 'hangar-shim');

function minimalConfig(image: ResolvedImage, id: string, netnsPath: string, cgroupsPath: string): Record<string, unknown> {
  const map = [{ containerID: 0, hostID: SANDBOX_ID_BASE, size: SANDBOX_ID_COUNT }];
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  const env = image.config.env.some((e) => e.startsWith('PATH=')) ? [...image.config.env] : ['PATH=/bin', ...image.config.env];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...image.config.entrypoint, ...image.config.cmd],
      env: [...env, `HOSTNAME=${id}`],
      cwd: image.config.workingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: image.rootfs, readonly: true },
    hostname: 'raw',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      uidMappings: map,
      gidMappings: map,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }, { type: 'network', path: netnsPath }],
      cgroupsPath,
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/sched_debug', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** What the node would ask its driver for (128 MiB, 1 vCPU as the API's defaults). */
function sandboxSpec(image: ResolvedImage, id: string, netnsPath: string, files: Record<string, string> | undefined, logPath: string): SandboxSpec {
  const env = image.config.env.some((e) => e.startsWith('PATH=')) ? [...image.config.env] : ['PATH=/bin', ...image.config.env];
  return {
    id,
    root: { path: image.rootfs, kind: 'dir' },
    // Sorted by target, as the node's spec has them.
    mounts: Object.entries(files ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([target, source]) => ({ type: 'bind' as const, source, target, readonly: true })),
    devices: [],
    process: { args: [...image.config.entrypoint, ...image.config.cmd], env: [...env, `HOSTNAME=${id}`], cwd: image.config.workingDir || '/', uid: 0, gid: 0 },
    hostname: 'raw',
    limits: { memoryBytes: 128 * 1024 * 1024, cpus: 1, pids: PIDS_LIMIT },
    netnsPath,
    logPath,
  };
}

function hangarConfig(image: ResolvedImage, id: string, netnsPath: string, cgroupsPath: string, files: Record<string, string> | undefined): Record<string, unknown> {
  return buildOciConfig(sandboxSpec(image, id, netnsPath, files, '/dev/null'), {
    cgroupsPath,
    cgroupNamespace: hasCgroupNamespace(),
    nofile: sandboxNofile(),
    ...(files ? { initPath: SHIM } : {}),
  });
}

const ip = async (args: string[]): Promise<void> => {
  await exec('ip', args, { timeoutMs: 10_000 });
};

export class RawRunc {
  private readonly dir: string;
  private readonly runcRoot: string;
  private readonly tag = randomBytes(3).toString('hex');
  private readonly cgroupParent = `hangar-bench-${this.tag}`;
  private readonly netnsPrefix = `hgr${this.tag}`;
  private seq = 0;
  private readonly ids = new Set<string>();
  private readonly files: Record<string, string>;
  /** A runc driver of its own (state and runc --root in this run's temp dir, same cgroup parent). */
  private readonly driver: RuncDriver;
  private readonly driverIds = new Set<string>();

  private constructor(
    private readonly image: ResolvedImage,
    /** First three octets of the /24 the /30 pairs are cut from. */
    private readonly net24: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `hangar-bench-raw-${this.tag}-`));
    chmodSync(this.dir, 0o711); // the bind sources must be reachable from inside the user namespace
    this.runcRoot = join(this.dir, 'runc');
    mkdirSync(this.runcRoot, { mode: 0o700 });
    // Like the node's per-instance files (0644, readable from inside the user namespace).
    this.files = { '/etc/resolv.conf': join(this.dir, 'resolv.conf'), '/etc/hosts': join(this.dir, 'hosts') };
    writeFileSync(this.files['/etc/resolv.conf']!, 'nameserver 127.0.0.1\n', { mode: 0o644 });
    writeFileSync(this.files['/etc/hosts']!, '127.0.0.1 localhost\n', { mode: 0o644 });
    this.driver = new RuncDriver({ stateDir: join(this.dir, 'driver'), shimPath: SHIM, cgroupParent: `/${this.cgroupParent}` });
  }

  static async create(image: ResolvedImage): Promise<RawRunc> {
    const block = await freeBlock(250, 24);
    return new RawRunc(image, block.split('.').slice(0, 3).join('.'));
  }

  private nsName(k: number): string {
    return `${this.netnsPrefix}-${k}`;
  }
  private vethName(k: number): string {
    return `${this.netnsPrefix}h${k}`;
  }

  /** netns + veth pair + addresses, all up (done before the timer). Returns the guest address. */
  private async prepareNet(k: number): Promise<string> {
    const ns = this.nsName(k);
    const veth = this.vethName(k);
    const host = `${this.net24}.${4 * k + 1}`;
    const guest = `${this.net24}.${4 * k + 2}`;
    await ip(['netns', 'add', ns]);
    await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['addr', 'add', `${host}/30`, 'dev', veth]);
    await ip(['link', 'set', veth, 'up']);
    await ip(['-n', ns, 'addr', 'add', `${guest}/30`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    return guest;
  }

  /** Deleting the netns destroys the veth pair with it. */
  private async dropNet(k: number): Promise<void> {
    await exec('ip', ['netns', 'del', this.nsName(k)], { allowFailure: true, timeoutMs: 10_000 });
    await exec('ip', ['link', 'del', this.vethName(k)], { allowFailure: true, timeoutMs: 10_000 });
  }

  private async removeContainer(id: string): Promise<void> {
    if (this.driverIds.has(id)) {
      await this.driver.remove(id).catch(() => undefined); // close() reports what is left
      this.driverIds.delete(id);
    }
    await exec('runc', ['--root', this.runcRoot, 'delete', '--force', id], { allowFailure: true, timeoutMs: 30_000 });
    removeCgroup(`${this.cgroupParent}/${id}`);
    rmSync(join(this.dir, 'bundles', id), { recursive: true, force: true });
    this.ids.delete(id);
  }

  /**
   * One measured run: prepare netns/veth and the bundle (untimed), then time
   * spawn of `runc run -d` → runc exit → first HTTP byte; clean up (untimed).
   */
  async run(variant: RawVariant): Promise<RawRun> {
    const k = this.seq % SLOTS;
    const id = `hgb-raw-${this.tag}-${this.seq++}`;
    const bundle = join(this.dir, 'bundles', id);
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    this.ids.add(id);
    try {
      const guest = await this.prepareNet(k);
      const netnsPath = `/run/netns/${this.nsName(k)}`;
      const cgroupsPath = `/${this.cgroupParent}/${id}`;
      const config =
        variant === 'minimal'
          ? minimalConfig(this.image, id, netnsPath, cgroupsPath)
          : hangarConfig(this.image, id, netnsPath, cgroupsPath, variant === 'hangar-full' ? this.files : undefined);
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
      const log = join(bundle, 'runc.log');

      if (variant === 'driver') {
        this.driverIds.add(id);
        const spec = sandboxSpec(this.image, id, netnsPath, this.files, join(bundle, 'app.log'));
        const t0 = now();
        await this.driver.start(spec);
        const t1 = now();
        const t2 = await firstByte(guest, HELLO_PORT);
        if (t2 === undefined) throw new Error(`driver sandbox ${id} never answered HTTP on ${guest}:${HELLO_PORT}`);
        return { runMs: t1 - t0, firstByteMs: t2 - t0 };
      }

      const t0 = now();
      const code = await new Promise<number>((res, rej) => {
        const child = spawn('runc', ['--root', this.runcRoot, '--log', log, '--log-format', 'json', 'run', '--detach', '--bundle', bundle, id], { stdio: 'ignore' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.once('error', (e) => {
          clearTimeout(timer);
          rej(e);
        });
        child.once('exit', (c) => {
          clearTimeout(timer);
          res(c ?? 128);
        });
      });
      const t1 = now();
      if (code !== 0) {
        const why = (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').slice(-2).join(' ');
        throw new Error(`runc run (${variant}) exited ${code}: ${why}`);
      }
      const t2 = await firstByte(guest, HELLO_PORT);
      if (t2 === undefined) throw new Error(`raw runc (${variant}) ${id} never answered HTTP on ${guest}:${HELLO_PORT}`);
      return { runMs: t1 - t0, firstByteMs: t2 - t0 };
    } finally {
      await this.removeContainer(id);
      await this.dropNet(k);
    }
  }

  /** Removes whatever is left and returns a list of leftovers (empty = clean). */
  async close(): Promise<string[]> {
    for (const id of [...this.ids]) await this.removeContainer(id);
    const left: string[] = [];
    const listed = await exec('runc', ['--root', this.runcRoot, 'list', '-q'], { allowFailure: true, timeoutMs: 30_000 });
    for (const id of listed.stdout.split('\n').filter(Boolean)) {
      await exec('runc', ['--root', this.runcRoot, 'delete', '--force', id], { allowFailure: true, timeoutMs: 30_000 });
      removeCgroup(`${this.cgroupParent}/${id}`);
    }
    for (let k = 0; k < SLOTS; k++) await this.dropNetIfAny(k);
    removeCgroup(this.cgroupParent);
    const driverRoot = join(this.dir, 'driver', 'runc');
    for (const id of (await exec('runc', ['--root', driverRoot, 'list', '-q'], { allowFailure: true, timeoutMs: 30_000 })).stdout.split('\n').filter(Boolean)) {
      await this.driver.remove(id).catch(() => undefined);
      removeCgroup(`${this.cgroupParent}/${id}`);
    }
    // Check.
    for (const root of [this.runcRoot, driverRoot]) {
      const again = await exec('runc', ['--root', root, 'list', '-q'], { allowFailure: true, timeoutMs: 30_000 });
      for (const id of again.stdout.split('\n').filter(Boolean)) left.push(`raw runc container ${id} (${root})`);
    }
    for (const p of readdirSafe('/proc')) {
      if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
      const cmd = (() => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8');
        } catch {
          return '';
        }
      })();
      if (cmd.includes(this.dir)) left.push(`process ${p}: ${cmd.replace(/\0/g, ' ').slice(0, 120)}`);
    }
    for (const n of readdirSafe('/run/netns')) if (n.startsWith(this.netnsPrefix)) left.push(`netns ${n}`);
    for (const n of readdirSafe('/sys/class/net')) if (n.startsWith(this.netnsPrefix)) left.push(`link ${n}`);
    if (cgroupExists(this.cgroupParent)) left.push(`cgroup ${this.cgroupParent}`);
    rmSync(this.dir, { recursive: true, force: true });
    return left;
  }

  private async dropNetIfAny(k: number): Promise<void> {
    if (readdirSafe('/run/netns').includes(this.nsName(k)) || readdirSafe('/sys/class/net').includes(this.vethName(k))) await this.dropNet(k);
  }
}

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}
