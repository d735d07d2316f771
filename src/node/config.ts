import { join, resolve } from 'node:path';
import { DEFAULT_LIMITS, type InstanceLimits } from '../core/instances/input.js';
import type { UserQuotas } from '../core/instances/admission.js';
import { hangarHome, readSettings } from '../lib/settings.js';
import type { CentralRegistryConfig } from '../image/puller.js';

/** Everything a node needs to start; every value has an embedded default. */
export interface NodeConfig {
  /** All state lives here: database, images, logs, sandbox state. */
  home: string;
  /**
   * This node's id, recorded on every instance it creates; it reconciles and
   * restarts only those (HANGAR_NODE_ID). Unset: a uuid generated on first
   * start and kept in `$HANGAR_HOME/node-id` (not the hostname, which can
   * change under a running node or repeat across hosts).
   */
  nodeId?: string;
  host: string;
  port: number;
  /** Domain service group names without a trailing dot go under (HANGAR_DOMAIN). */
  domain: string;
  /** Folder with hangar's own binaries (hangar-shim). */
  binDir: string;
  /** The ingress: the address it binds (HANGAR_INGRESS_HOST) and public → local listen ports (HANGAR_INGRESS_PORTS). */
  ingress: { host: string; ports: ReadonlyMap<number, number> };
  network: { bridge: string; subnet: string; netnsPrefix: string; prewarm: number };
  /** cgroup (v1 hierarchy path) under which every sandbox's cgroup is made. */
  cgroupParent: string;
  /** Runtime driver of instances that name none (HANGAR_RUNTIME); the node has 'runc'. */
  runtime: string;
  limits: InstanceLimits;
  stopGraceMs: number;
  /** Size limits of the node's registry (HANGAR_REGISTRY_MAX_BLOB_BYTES, HANGAR_REGISTRY_MAX_MANIFEST_BYTES); unset = the registry's defaults. */
  registryLimits: { maxBlobBytes?: number; maxManifestBytes?: number };
  /** Per-user quotas of non-admin users (the HANGAR_QUOTA_INSTANCES, _LIVE_MEMORY_MB, _LIVE_VCPUS and _REGISTRY_MB settings). */
  quotas: UserQuotas;
  /** Node capacity as multiples of the host's memory and cores (HANGAR_OVERCOMMIT_MEMORY, HANGAR_OVERCOMMIT_CPU). */
  overcommit: { memory: number; cpu: number };
  /** The registry images are pulled from when the node lacks them (HANGAR_CENTRAL_REGISTRY, _USER, _PASSWORD). */
  central?: CentralRegistryConfig;
  /** Registries full references may pull from besides central (HANGAR_ALLOWED_REGISTRIES); unset = the well-known public ones. */
  allowedRegistries?: string[];
}

const repoRoot = (): string => resolve(new URL('../../..', import.meta.url).pathname);

/** The node's configuration: embedded defaults, then the validated `HANGAR_*` variables (lib/settings.ts), then `overrides`. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<NodeConfig> = {}): NodeConfig {
  const v = readSettings(env);
  const [, host, port] = /^\[?(.*?)\]?:(\d+)$/.exec(v.HANGAR_LISTEN ?? '127.0.0.1:8080')!;
  const base: NodeConfig = {
    home: hangarHome(env),
    ...(v.HANGAR_NODE_ID ? { nodeId: v.HANGAR_NODE_ID } : {}),
    host: host!,
    port: Number(port),
    domain: v.HANGAR_DOMAIN ?? 'localhost',
    ingress: { host: v.HANGAR_INGRESS_HOST ?? '127.0.0.1', ports: v.HANGAR_INGRESS_PORTS ?? new Map<number, number>() },
    binDir: v.HANGAR_BIN_DIR ?? join(repoRoot(), 'build', 'bin'),
    network: {
      bridge: v.HANGAR_BRIDGE ?? 'hangar0',
      subnet: v.HANGAR_SUBNET ?? '10.77.0.0/16',
      netnsPrefix: v.HANGAR_NETNS_PREFIX ?? 'hangar',
      prewarm: v.HANGAR_NET_PREWARM ?? 4,
    },
    limits: { ...DEFAULT_LIMITS, ...(v.HANGAR_MAX_MEMORY_MB !== undefined ? { maxMemoryMb: v.HANGAR_MAX_MEMORY_MB } : {}) },
    registryLimits: {
      ...(v.HANGAR_REGISTRY_MAX_BLOB_BYTES !== undefined ? { maxBlobBytes: v.HANGAR_REGISTRY_MAX_BLOB_BYTES } : {}),
      ...(v.HANGAR_REGISTRY_MAX_MANIFEST_BYTES !== undefined ? { maxManifestBytes: v.HANGAR_REGISTRY_MAX_MANIFEST_BYTES } : {}),
    },
    quotas: {
      instances: v.HANGAR_QUOTA_INSTANCES ?? 64,
      liveMemoryMb: v.HANGAR_QUOTA_LIVE_MEMORY_MB ?? 4096,
      liveVcpus: v.HANGAR_QUOTA_LIVE_VCPUS ?? 8,
      registryBytes: (v.HANGAR_QUOTA_REGISTRY_MB ?? 2048) * 1024 * 1024,
    },
    overcommit: { memory: v.HANGAR_OVERCOMMIT_MEMORY ?? 4, cpu: v.HANGAR_OVERCOMMIT_CPU ?? 128 },
    stopGraceMs: v.HANGAR_STOP_GRACE_MS ?? 10_000,
    cgroupParent: v.HANGAR_CGROUP_PARENT ?? '/hangar',
    runtime: v.HANGAR_RUNTIME ?? 'runc',
  };
  if (v.HANGAR_ALLOWED_REGISTRIES) base.allowedRegistries = v.HANGAR_ALLOWED_REGISTRIES;
  if (v.HANGAR_CENTRAL_REGISTRY) {
    base.central = { url: v.HANGAR_CENTRAL_REGISTRY, ...(v.HANGAR_CENTRAL_USER ? { username: v.HANGAR_CENTRAL_USER, password: v.HANGAR_CENTRAL_PASSWORD ?? '' } : {}) };
  }
  return { ...base, ...overrides, network: { ...base.network, ...(overrides.network ?? {}) } };
}
