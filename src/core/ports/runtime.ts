/**
 * The machine-driver port. core/ talks to sandboxes only through this
 * interface; runtime/runc (and later runtime/runsc, runtime/qemu) implement it
 * and core never imports them. The node holds every driver in a
 * RuntimeRegistry and picks one per instance by name.
 *
 * Contract shared by every driver (checked by test/conformance/driver/):
 * - `start` resolves only once the app process exists (has been exec'd), so
 *   the caller may report the instance `running`. On failure it rejects with a
 *   HangarError and leaves nothing behind (no process, cgroup or state dir).
 *   A spec asking for a mount type or device the driver lacks is refused with
 *   `failed_precondition` before anything is made.
 * - A sandbox outlives the node process: after the node is killed and
 *   restarted, `list`/`inspect` find it again and `waitExit` still resolves.
 * - `remove` is idempotent and removes everything the driver made for the id.
 * - What a driver can do beyond that is an optional capability object
 *   (`freezer`, `checkpointer`), never a flag: absent means it cannot.
 */
import { HangarError } from '../../lib/errors.js';

export interface SandboxProcess {
  /** argv; args[0] is resolved inside the rootfs (absolute path or via PATH in env). */
  args: string[];
  /** `KEY=VALUE` strings. */
  env: string[];
  cwd: string;
  /** Ids inside the sandbox's user namespace. */
  uid: number;
  gid: number;
}

export interface SandboxLimits {
  memoryBytes: number;
  /** May be fractional; enforced as CPU quota. */
  cpus: number;
  pids: number;
}

/**
 * One filesystem in the sandbox. Mounts apply in list order, so a later one
 * may sit inside an earlier one. Targets are absolute paths inside the sandbox.
 */
export type SandboxMount =
  /** A host file or directory. */
  | { type: 'bind'; source: string; target: string; readonly: boolean }
  /** Memory-backed and private; counts against the sandbox's memory. */
  | { type: 'tmpfs'; target: string; sizeBytes: number; mode?: number }
  /**
   * Read-only `lower` directories (first is topmost) with a private writable
   * layer on top, kept in `upper` (its upper/ and work/ subdirectories);
   * `upper` absent = the driver keeps the layer and drops it on remove.
   */
  | { type: 'overlay'; target: string; lower: string[]; upper?: string }
  /**
   * A filesystem image file (EROFS ROM, ext4 volume) mounted by its content.
   * A driver that mounts on the host may share one read-only mount per
   * `source` among its sandboxes (ROMs are content-addressed).
   */
  | { type: 'image'; source: string; target: string; fsType: 'erofs' | 'ext4'; readonly: boolean };

export type SandboxMountType = SandboxMount['type'];

/**
 * A host file exposed as a device (e.g. a ROM at /dev/ukp_rom_<name>). A
 * sandbox that cannot have block devices gets it as a read-only file at
 * `path` instead; either way the app reads the same bytes.
 */
export interface SandboxDevice {
  path: string;
  source: string;
  readonly: boolean;
}

/**
 * What the sandbox boots from.
 */
export type SandboxRoot =
  /**
   * An unpacked tree shared read-only by every sandbox of the image; the driver
   * never writes it (containers). With `writable`, the sandbox sees a private
   * copy-on-write root over it, owned by the sandbox's root, whose writes (up to
   * `sizeBytes`, in memory and charged to the sandbox) are dropped on remove.
   */
  | { kind: 'dir'; path: string; writable?: { sizeBytes: number } }
  /** A guest kernel with an optional initrd and root filesystem image (microVMs, unikernels). */
  | { kind: 'kernel'; kernel: string; initrd?: string; image?: { path: string; fsType: 'erofs' | 'ext4' } };

export interface SandboxSpec {
  /** Unique id (the instance uuid); also the runtime's container id. */
  id: string;
  root: SandboxRoot;
  /** Ordered; applied over the driver's own /proc, /dev, /sys, /tmp and /run. */
  mounts: SandboxMount[];
  devices: SandboxDevice[];
  process: SandboxProcess;
  hostname: string;
  limits: SandboxLimits;
  /** Join this existing network namespace (bind-mount path); absent = a fresh one with only loopback. */
  netnsPath?: string;
  /** Host id uid/gid 0 inside maps to (SANDBOX_ID_COUNT ids from there); absent = SANDBOX_ID_BASE. */
  idMapBase?: number;
  /** stdout and stderr of the app are appended to this host file. */
  logPath: string;
}

export interface SandboxExit {
  /** Exit status when the app exited by itself, else null. */
  exitCode: number | null;
  /** Signal name (e.g. 'SIGKILL') when the app was killed, else null. */
  signal: string | null;
  /** The kernel OOM killer fired inside the sandbox's memory limit. */
  oomKilled: boolean;
  /**
   * The sandbox's supervisor (e.g. hangar-shim) died without recording how
   * the app ended: the platform lost the sandbox, the app did not exit.
   */
  lost?: boolean;
  at: Date;
}

export type SandboxState = 'running' | 'paused' | 'stopped';

export interface SandboxInfo {
  id: string;
  state: SandboxState;
  /** Host pid of the app process while it exists. */
  pid?: number;
  /** Set once the app has exited. */
  exit?: SandboxExit;
}

export interface SandboxStats {
  rssBytes: number;
  cpuTimeMs: number;
}

/** Freeze all processes of a sandbox in place; memory stays resident (standby). */
export interface Freezer {
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
}

/**
 * Save a running sandbox to `dir` and bring it back, possibly on a fresh
 * driver object (templates, clones, scale-to-zero). `checkpoint` leaves the
 * sandbox stopped; `restore` resolves like `start`.
 */
export interface Checkpointer {
  checkpoint(id: string, dir: string): Promise<void>;
  restore(spec: SandboxSpec, dir: string): Promise<{ pid: number }>;
}

/** Where a sandbox can be reached, for a readiness check. */
export interface ProbeTarget {
  id: string;
  /** The instance's address on the node network. */
  ip?: string;
  netnsPath?: string;
  /** Ports the app is expected on, when the instance declares them; empty = any. */
  ports: readonly number[];
}

/**
 * When a sandbox's app first serves TCP (`net_time_us`). Called repeatedly
 * after start, so one call must be cheap; it must not delay `start`.
 */
export interface ReadinessProbe {
  /** True once the app listens on or accepted a TCP connection; rejects `not_found` once the sandbox is gone. */
  ready(target: ProbeTarget): Promise<boolean>;
}

export interface RuntimeDriver {
  /** The registry key, e.g. 'runc'. */
  readonly name: string;
  /** Image kinds it runs (as the image store classifies them, e.g. 'oci'). */
  readonly imageKinds: readonly string[];
  readonly mountTypes: readonly SandboxMountType[];
  readonly rootKinds: readonly SandboxRoot['kind'][];
  readonly freezer?: Freezer;
  readonly checkpointer?: Checkpointer;
  readonly readiness: ReadinessProbe;
  start(spec: SandboxSpec): Promise<{ pid: number }>;
  /** Resolves once the app of sandbox `id` has exited (immediately if it already has). */
  waitExit(id: string): Promise<SandboxExit>;
  kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  remove(id: string): Promise<void>;
  inspect(id: string): Promise<SandboxInfo | undefined>;
  /** Every sandbox this driver holds on the host, including ones started by an earlier node process. */
  list(): Promise<SandboxInfo[]>;
  stats(id: string): Promise<SandboxStats>;
}

/** The driver's Freezer; `failed_precondition` when it has none (its instances cannot go to standby). */
export function freezerOf(driver: RuntimeDriver): Freezer {
  if (!driver.freezer) throw new HangarError('failed_precondition', `runtime ${driver.name} cannot suspend`);
  return driver.freezer;
}

/** The node's drivers by name. An instance without a driver name runs on the default. */
export interface RuntimeRegistry {
  readonly default: RuntimeDriver;
  /** The driver called `name` (the default when absent); `failed_precondition` if the node has none by that name. */
  get(name?: string): RuntimeDriver;
  all(): readonly RuntimeDriver[];
  /** Whether some driver of this node runs images of `kind` (for the image puller). */
  runsKind(kind: string): boolean;
}
