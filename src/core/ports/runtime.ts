/**
 * The machine-driver port. core/ talks to sandboxes only through this
 * interface; runtime/runc, runtime/runsc and runtime/qemu implement it and
 * core never imports them.
 *
 * Contract shared by every driver (checked by one conformance suite):
 * - `start` resolves only once the app process exists (has been exec'd), so
 *   the caller may report the instance `running`. On failure it rejects with a
 *   HangarError and leaves nothing behind (no process, cgroup or state dir).
 * - A sandbox outlives the node process: after the node is killed and
 *   restarted, `list`/`inspect` find it again and `waitExit` still resolves.
 * - `remove` is idempotent and removes everything the driver made for the id.
 */

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

export interface SandboxSpec {
  /** Unique id (the instance uuid); also the runtime's container id. */
  id: string;
  /** Absolute path of a read-only rootfs shared with other sandboxes; the driver never writes it. */
  rootfs: string;
  process: SandboxProcess;
  hostname: string;
  limits: SandboxLimits;
  /** Join this existing network namespace (bind-mount path); absent = a fresh one with only loopback. */
  netnsPath?: string;
  /** Host files bind-mounted read-only into the sandbox at the given absolute paths (e.g. /etc/resolv.conf). */
  files?: Record<string, string>;
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

export interface DriverCapabilities {
  pause: boolean;
  snapshot: boolean;
}

export interface RuntimeDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  start(spec: SandboxSpec): Promise<{ pid: number }>;
  /** Resolves once the app of sandbox `id` has exited (immediately if it already has). */
  waitExit(id: string): Promise<SandboxExit>;
  kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Freeze all processes (cgroup freezer); memory stays resident. */
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  remove(id: string): Promise<void>;
  inspect(id: string): Promise<SandboxInfo | undefined>;
  /** Every sandbox this driver holds on the host, including ones started by an earlier node process. */
  list(): Promise<SandboxInfo[]>;
  stats(id: string): Promise<SandboxStats>;
  /** True once the app has a TCP socket in LISTEN state (used for `net_time_us`). */
  listening(id: string): Promise<boolean>;
}
