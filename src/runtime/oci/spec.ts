/**
 * Builds the OCI runtime config (config.json) an OCI runtime (runc, runsc)
 * runs a sandbox from.
 *
 * By default the app runs under a minimal init (hangar-shim --init) as pid 1:
 * an app that is itself pid 1 ignores SIGTERM unless it installs a handler.
 *
 * Isolation: pid, mount, ipc, uts, user, network (and cgroup when the kernel
 * has it) namespaces; ids 0..SANDBOX_ID_COUNT-1 inside map to the spec's
 * idMapBase.. outside (its own range; SANDBOX_ID_BASE when absent); the shared rootfs is mounted read-only and only tmpfs, proc, sysfs,
 * devpts, mqueue and the spec's mounts and devices are mounted over it (with a
 * writable root, the host's private overlay of it instead: see hostmounts.ts); a small
 * capability set, no_new_privs and a seccomp denylist.
 */
import type { SandboxMount, SandboxSpec } from '../../core/ports/runtime.js';
import { HangarError } from '../../lib/errors.js';
import { SANDBOX_ID_BASE, SANDBOX_ID_COUNT } from '../../lib/idmap.js';
import type { HostView } from './hostmounts.js';
import { seccompProfile } from './seccomp.js';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Directories every rootfs must already contain: runc would otherwise create them in the shared tree. */
export const REQUIRED_MOUNTPOINTS = ['/proc', '/dev', '/sys', '/tmp', '/run'] as const;

/** Fresh tmpfs every sandbox gets: mountpoints inside them are made there, never in the rootfs. */
export const SANDBOX_TMPFS = ['/dev', '/tmp', '/run'] as const;

const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
];

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const CPU_PERIOD_US = 100_000;
export const NOFILE_LIMIT = 65_536;
const SHM_MAX_BYTES = 64 * 1024 * 1024;

export interface OciConfigOptions {
  /** Absolute cgroup path, e.g. /hangar/<id>. */
  cgroupsPath: string;
  /** Give the sandbox its own cgroup namespace (kernel support). */
  cgroupNamespace: boolean;
  /**
   * RLIMIT_NOFILE of the app. runc sets it from inside the user namespace, so it
   * can't exceed the hard limit runc inherits (see nofileLimit()).
   */
  nofile: number;
  /**
   * Host path of the hangar-shim binary to run as the sandbox's pid 1 (see
   * native/hangar-shim.c, init mode); absent: the app itself is pid 1.
   */
  initPath?: string;
  /**
   * What the host mounted for this sandbox (hostmounts.ts): its root, a sysfs
   * of its netns, shared image mounts, copies of small read-only files.
   */
  host?: HostView;
}

/** Where the init is bind-mounted: a file on the sandbox's own /dev tmpfs, so the rootfs needs no mountpoint. */
export const INIT_IN_SANDBOX = '/dev/.hangar-init';

type Mount = { destination: string; type: string; source: string; options?: string[] };

function mounts(spec: SandboxSpec, initPath: string | undefined, host: HostView | undefined): Mount[] {
  const mem = Math.max(1024 * 1024, Math.floor(spec.limits.memoryBytes));
  const m: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${Math.min(mem, SHM_MAX_BYTES)}`],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  ];
  if (initPath !== undefined) {
    m.push({ destination: INIT_IN_SANDBOX, type: 'none', source: initPath, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  }
  if (spec.netnsPath) {
    // sysfs may only be mounted by the owner of the network namespace; a joined
    // netns belongs to the host, so the host mounts one tagged with that netns
    // (it lists only the sandbox's interfaces). Without one (a caller that made
    // none, e.g. the bench's raw baseline) the host's /sys, read-only.
    m.push({ destination: '/sys', type: 'none', source: host?.sysfs ?? '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
  } else {
    m.push({ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] });
  }
  m.push(
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${mem}`] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', `size=${mem}`] },
  );
  for (const mount of spec.mounts) m.push(ociMount(mount, host));
  // Without CAP_MKNOD in a user namespace a device node cannot be made: the bytes are served as a read-only file.
  for (const d of spec.devices) {
    m.push({ destination: d.path, type: 'none', source: d.source, options: ['bind', ...(d.readonly ? ['ro'] : []), 'nosuid', 'nodev', 'noexec'] });
  }
  return m;
}

function ociMount(mount: SandboxMount, host: HostView | undefined): Mount {
  switch (mount.type) {
    case 'bind':
      return {
        destination: mount.target,
        type: 'none',
        source: (mount.readonly ? host?.copies.get(mount.source) : undefined) ?? mount.source,
        options: mount.readonly ? ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] : ['bind', 'nosuid', 'nodev'],
      };
    case 'tmpfs':
      return {
        destination: mount.target,
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', `mode=${(mount.mode ?? 0o755).toString(8)}`, `size=${Math.floor(mount.sizeBytes)}`],
      };
    case 'overlay':
      return {
        destination: mount.target,
        type: 'overlay',
        source: 'overlay',
        options: [`lowerdir=${mount.lower.join(':')}`, ...(mount.upper === undefined ? [] : [`upperdir=${mount.upper}/upper`, `workdir=${mount.upper}/work`])],
      };
    case 'image': {
      // Mounted once on the host and shared: every sandbox gets a read-only bind of it.
      const shared = host?.images.get(mount.source);
      if (shared === undefined) throw new HangarError('failed_precondition', `image ${mount.source} (for ${mount.target}) was not mounted on the host`);
      if (!mount.readonly) throw new HangarError('failed_precondition', `image mounts are shared and read-only (${mount.target})`);
      return { destination: mount.target, type: 'none', source: shared, options: ['bind', 'ro', 'nosuid', 'nodev'] };
    }
  }
}

function env(spec: SandboxSpec): string[] {
  const e = [...spec.process.env];
  if (!e.some((v) => v.startsWith('PATH='))) e.unshift(DEFAULT_PATH);
  return e;
}

/** The host directory an OCI runtime mounts as the sandbox's root. */
export function rootDir(spec: SandboxSpec): string {
  if (spec.root.kind !== 'dir') throw new HangarError('failed_precondition', `an OCI runtime needs a root directory, not a ${spec.root.kind}`);
  return spec.root.path;
}

export function buildOciConfig(spec: SandboxSpec, opts: OciConfigOptions): Record<string, unknown> {
  const { limits } = spec;
  const namespaces: Array<{ type: string; path?: string }> = [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
    { type: 'user' },
    spec.netnsPath ? { type: 'network', path: spec.netnsPath } : { type: 'network' },
  ];
  if (opts.cgroupNamespace) namespaces.push({ type: 'cgroup' });
  const memory = Math.floor(limits.memoryBytes);
  const resources: Record<string, unknown> = {
    devices: [{ allow: false, access: 'rwm' }],
    memory: { limit: memory, swap: memory },
    pids: { limit: Math.max(1, Math.floor(limits.pids)) },
  };
  if (limits.cpus > 0) {
    resources['cpu'] = { quota: Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US)), period: CPU_PERIOD_US };
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: spec.process.uid, gid: spec.process.gid },
      args: opts.initPath === undefined ? spec.process.args : [INIT_IN_SANDBOX, '--init', ...spec.process.args],
      env: env(spec),
      cwd: spec.process.cwd || '/',
      capabilities: { bounding: CAPABILITIES, effective: CAPABILITIES, permitted: CAPABILITIES },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: opts.nofile, soft: opts.nofile }],
      noNewPrivileges: true,
    },
    root: opts.host?.root ?? { path: rootDir(spec), readonly: true },
    hostname: spec.hostname,
    mounts: mounts(spec, opts.initPath, opts.host),
    linux: {
      uidMappings: [{ containerID: 0, hostID: spec.idMapBase ?? SANDBOX_ID_BASE, size: SANDBOX_ID_COUNT }],
      gidMappings: [{ containerID: 0, hostID: spec.idMapBase ?? SANDBOX_ID_BASE, size: SANDBOX_ID_COUNT }],
      namespaces,
      cgroupsPath: opts.cgroupsPath,
      resources,
      seccomp: seccompProfile(),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}
