import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_LIMITS, type InstanceLimits } from '../core/instances/input.js';
import { invalid } from '../lib/errors.js';
import type { CentralRegistryConfig } from '../image/puller.js';

/** Everything a node needs to start; every value has an embedded default. */
export interface NodeConfig {
  /** All state lives here: database, images, logs, sandbox state. */
  home: string;
  host: string;
  port: number;
  /** Folder with hangar's own binaries (hangar-shim). */
  binDir: string;
  network: { bridge: string; subnet: string; netnsPrefix: string; prewarm: number };
  /** cgroup (v1 hierarchy path) under which every sandbox's cgroup is made. */
  cgroupParent: string;
  /** Runtime driver of instances that name none (HANGAR_RUNTIME); the node has 'runc'. */
  runtime: string;
  limits: InstanceLimits;
  stopGraceMs: number;
  /** The registry images are pulled from when the node lacks them (HANGAR_CENTRAL_REGISTRY, _USER, _PASSWORD). */
  central?: CentralRegistryConfig;
}

const repoRoot = (): string => resolve(new URL('../../..', import.meta.url).pathname);

export function configFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<NodeConfig> = {}): NodeConfig {
  const listen = env['HANGAR_LISTEN'] ?? '127.0.0.1:8080';
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) throw invalid('HANGAR_LISTEN', `'${listen}' is not host:port`);
  const base: NodeConfig = {
    home: resolve(env['HANGAR_HOME'] ?? join(homedir(), '.hangar')),
    host: m[1]!.replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    binDir: env['HANGAR_BIN_DIR'] ?? join(repoRoot(), 'build', 'bin'),
    network: {
      bridge: env['HANGAR_BRIDGE'] ?? 'hangar0',
      subnet: env['HANGAR_SUBNET'] ?? '10.77.0.0/16',
      netnsPrefix: env['HANGAR_NETNS_PREFIX'] ?? 'hangar',
      prewarm: Number(env['HANGAR_NET_PREWARM'] ?? 4),
    },
    limits: {
      ...DEFAULT_LIMITS,
      ...(env['HANGAR_MAX_MEMORY_MB'] ? { maxMemoryMb: Number(env['HANGAR_MAX_MEMORY_MB']) } : {}),
    },
    stopGraceMs: Number(env['HANGAR_STOP_GRACE_MS'] ?? 10_000),
    cgroupParent: env['HANGAR_CGROUP_PARENT'] ?? '/hangar',
    runtime: env['HANGAR_RUNTIME'] ?? 'runc',
  };
  const central = env['HANGAR_CENTRAL_REGISTRY'];
  if (central) {
    if (!/^(https?:\/\/)?[\w.-]+(:\d+)?\/?$|^(https?:\/\/)?\[[0-9a-fA-F:]+\](:\d+)?\/?$/.test(central)) throw invalid('HANGAR_CENTRAL_REGISTRY', `'${central}' is not a registry URL (http(s)://host[:port] or host[:port])`);
    base.central = { url: central, ...(env['HANGAR_CENTRAL_USER'] ? { username: env['HANGAR_CENTRAL_USER'], password: env['HANGAR_CENTRAL_PASSWORD'] ?? '' } : {}) };
  }
  return { ...base, ...overrides, network: { ...base.network, ...(overrides.network ?? {}) } };
}
