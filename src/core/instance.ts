/** The instance as the domain sees it (not the wire shape; api/ maps it). */

export const INSTANCE_STATES = ['stopped', 'starting', 'running', 'draining', 'stopping', 'standby', 'template', 'deleted', 'checkpoint'] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

export const RESTART_POLICIES = ['never', 'always', 'on-failure'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export const FEATURES = ['delete-on-stop'] as const;
export type Feature = (typeof FEATURES)[number];

/** `stop_reason` bits as UKC defines them (bit 5 … 0 = Z F U P A K). */
export const StopReason = {
  kernel: 1 << 0, // K: the sandbox's init ended
  app: 1 << 1, // A: the app exited; exit_code says how
  platform: 1 << 2, // P: the platform stopped it
  user: 1 << 3, // U: a user asked
  forced: 1 << 4, // F: without a grace period
  scaleToZero: 1 << 5, // Z: suspend or scale-to-zero
} as const;

/** The usual combinations, named as in the UKC docs. */
export const STOP_REASONS = {
  userStop: StopReason.user | StopReason.platform | StopReason.app | StopReason.kernel, // 15
  userForcedStop: StopReason.forced | StopReason.user | StopReason.platform, // 28
  platformStop: StopReason.platform | StopReason.app | StopReason.kernel, // 7
  appExit: StopReason.app | StopReason.kernel, // 3
  crash: StopReason.kernel, // 1: killed by a signal it did not ask for
  outOfMemory: StopReason.platform | StopReason.kernel, // 5: the memory limit's OOM killer
  suspend: StopReason.scaleToZero | StopReason.platform | StopReason.app | StopReason.kernel, // 39
} as const;

export interface NetworkInfo {
  interfaceUuid: string;
  ip: string;
  mac: string;
}

/** `erofs` (mountable at `at`), `cpio` or `raw`: what the ROM's first bytes say. */
export type RomFormat = 'erofs' | 'cpio' | 'raw';

/**
 * One ROM attached to an instance: read-only bytes the app finds at
 * `romDevicePath(rom)` and, with `at`, mounted there (EROFS only). The bytes
 * are content-addressed (`digest`), so instances with the same ROM share them.
 */
export interface InstanceRom {
  /** As the user gave it, or `ukp_rom<N>` for an unnamed one (`numbered`). */
  name: string;
  /** True when the node numbered it (the user gave no name). */
  numbered?: boolean;
  /** The ROM image reference as given (image ROMs). */
  image?: string;
  /** Manifest (or index) digest the reference resolved to: keeps the image in use. */
  imageDigest?: string;
  /** Paths of the files of an inline ROM (their bytes are in the packed EROFS only). */
  files?: string[];
  at?: string;
  /** sha256 of the ROM bytes: the ROM layer's digest, or the packed inline EROFS's. */
  digest: string;
  format: RomFormat;
  sizeBytes: number;
}

export interface RestartInfo {
  attempt: number;
  nextAt?: string;
}

export interface Instance {
  uuid: string;
  name: string;
  /** uuid of the user who owns it. */
  owner: string;
  /**
   * Id of the node that runs it; only that node starts, stops, restarts and
   * reconciles it. Absent on records written before nodes had ids, until a
   * node adopts them at start.
   */
  node?: string;
  createdAt: string;
  state: InstanceState;
  /** The image reference as the user gave it. */
  image: string;
  /** Manifest digest the reference resolved to at create time. */
  imageDigest: string;
  args?: string[];
  env?: Record<string, string>;
  memoryMb: number;
  vcpus: number;
  restartPolicy: RestartPolicy;
  features: Feature[];
  tags: string[];
  hostname: string;
  deleteLock: boolean;
  startCount: number;
  restartCount: number;
  startedAt?: string;
  stoppedAt?: string;
  /** Microseconds from the start request until the app process existed. */
  bootTimeUs?: number;
  /** Microseconds from the start request until the app first listened on a TCP port. */
  netTimeUs?: number;
  stopReason?: number;
  exitCode?: number;
  stopCode?: number;
  restart?: RestartInfo;
  network?: NetworkInfo;
  /** The runtime driver it runs on (a RuntimeRegistry name); absent = the node's default driver. */
  driver?: string;
  /** The host uid/gid range its sandbox maps to (lib/idmap.ts idRangeBase); given at create, freed with the record. */
  idRange?: number;
  /** Accumulated uptime of earlier runs, in ms (the current run is added on read). */
  uptimeMs: number;
  /** Read-only blobs attached at create (or by PATCH while stopped); absent = none. */
  roms?: InstanceRom[];
  /** uuid of the service group that publishes it; absent = not published. */
  serviceGroup?: string;
}

export const DEFAULT_MEMORY_MB = 128;
export const DEFAULT_VCPUS = 1;

/**
 * The live states: the instance holds a sandbox on its node (frozen in
 * standby). They count against live quotas, and reconcile adopts them.
 */
export const LIVE_STATES = ['starting', 'running', 'draining', 'stopping', 'standby'] as const satisfies readonly InstanceState[];
export const isLive = (s: InstanceState): boolean => (LIVE_STATES as readonly InstanceState[]).includes(s);

/** Live states in which the app has been started and is not frozen: its uptime grows. */
export const isUp = (s: InstanceState): boolean => s === 'running' || s === 'draining' || s === 'stopping';

/**
 * The stop_reason of an exit. `requested` is the reason of a stop a user or
 * the platform asked for, which wins over what the exit looks like; a sandbox
 * whose supervisor died (`lost`) is a platform stop.
 */
export function stopReasonForExit(exit: { signal: string | null; oomKilled: boolean; lost?: boolean }, requested?: number): number {
  if (requested !== undefined) return requested;
  // A lost supervisor is the platform's failure: the app may have been healthy.
  if (exit.lost === true && !exit.oomKilled) return STOP_REASONS.platformStop;
  return exit.oomKilled ? STOP_REASONS.outOfMemory : exit.signal ? STOP_REASONS.crash : STOP_REASONS.appExit;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
/** `stop_code`: the number of the signal that ended the app. */
export const signalNumber = (name: string): number | undefined => SIGNALS[name];
