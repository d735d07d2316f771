import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { invalid } from './errors.js';

/**
 * Every `HANGAR_*` environment variable hangar reads, in one schema: the node's
 * config, the CLI and the builder take their values from `readSettings`, never
 * from `process.env` directly, so a bad value is refused at start with the
 * variable's name instead of turning into NaN somewhere later. The README's
 * configuration table is checked against this list by a unit test.
 */

const count = z.string().regex(/^\d+$/, 'must be a whole number').transform(Number);
const positive = count.refine((n) => n > 0, 'must be greater than 0');
const ratio = z.string().regex(/^\d+(\.\d+)?$/, 'must be a number such as 1.5').transform(Number).refine((n) => n > 0, 'must be greater than 0');
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^\s:[\]]*):(\d{1,5})$/, 'must be host:port (IPv6 in brackets)');
const registryUrl = z
  .string()
  .regex(/^(https?:\/\/)?([\w.-]+|\[[0-9a-fA-F:]+\])(:\d+)?\/?$/, 'must be a registry URL (http(s)://host[:port] or host[:port])');
const registryList = z
  .string()
  .regex(/^\s*([\w.-]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?(\s*,\s*([\w.-]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?)*\s*$/, 'must be a comma-separated list of host[:port]')
  .transform((v) => v.split(',').map((h) => h.trim().toLowerCase()));
const cidr4 = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'must be an IPv4 CIDR such as 10.77.0.0/16');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"');
const absPath = z.string().min(1).transform((p) => resolve(p));
const ingressPorts = z
  .string()
  .regex(/^\s*(\d{1,5}\s*=\s*\d{1,5})(\s*,\s*\d{1,5}\s*=\s*\d{1,5})*\s*$/, 'must be public=local pairs such as 80=18000,443=18443')
  .transform((v) => v.split(',').map((p) => p.split('=').map((n) => Number(n.trim())) as [number, number]))
  .refine((pairs) => pairs.every(([pub, loc]) => pub >= 1 && pub <= 65535 && loc <= 65535), 'ports must be 1-65535 (local 0 = any free port)')
  .refine((pairs) => new Set(pairs.map(([pub]) => pub)).size === pairs.length, 'a public port is mapped twice')
  .transform((pairs) => new Map(pairs));
const flag = z.enum(['0', '1', 'true', 'false', '']).transform((v) => v === '1' || v === 'true');

interface Setting<T extends z.ZodType> {
  schema: T;
  /** What the README shows as the default ("—" when unset means off). */
  shown: string;
  /** Who reads it. */
  scope: 'node' | 'cli' | 'node, cli';
  doc: string;
}

const s = <T extends z.ZodType>(schema: T, shown: string, scope: Setting<T>['scope'], doc: string): Setting<T> => ({ schema, shown, scope, doc });

export const SETTINGS = {
  HANGAR_HOME: s(absPath, '`~/.hangar`', 'node, cli', 'Where a node keeps all its state (database, images, logs, sandboxes); the builder keeps its cache under it.'),
  HANGAR_LISTEN: s(hostPort, '`127.0.0.1:8080`', 'node, cli', 'Address of the `/v1` API and the `/v2` registry (the CLI\'s default target).'),
  HANGAR_DOMAIN: s(z.string().regex(/^(?=.{1,200}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'must be a lowercase domain name such as example.org'), '`localhost`', 'node', 'Domain that service group domain names without a trailing dot go under (`web` → `web.<domain>`); `*.localhost` reaches loopback with no DNS set-up.'),
  HANGAR_INGRESS_HOST: s(z.string().regex(/^([0-9.]+|[0-9a-fA-F:]+|[A-Za-z0-9.-]+)$/, 'must be an address such as 127.0.0.1 or 0.0.0.0'), '`127.0.0.1`', 'node', 'Address the ingress binds at each port a service group publishes (`0.0.0.0` on a server).'),
  HANGAR_INGRESS_PORTS: s(ingressPorts, 'none mapped', 'node', 'Public ports the ingress serves on another local port, as `public=local,…` (`80=18000,443=18443`; local `0` = any free port); a port not listed is listened on as itself. The API still shows the public port.'),
  HANGAR_NODE_ID: s(name, 'generated once, kept in `$HANGAR_HOME/node-id`', 'node', 'This node\'s id; every instance records the node that owns it.'),
  HANGAR_BIN_DIR: s(absPath, '`build/bin` of the checkout', 'node', 'Folder with hangar\'s own binaries (`hangar-shim`).'),
  HANGAR_BRIDGE: s(z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be a Linux interface name (1-15 characters)'), '`hangar0`', 'node', 'Bridge the instances\' veths join.'),
  HANGAR_SUBNET: s(cidr4, '`10.77.0.0/16`', 'node', 'Instance addresses; the first host address is the gateway and DNS server.'),
  HANGAR_NETNS_PREFIX: s(name, '`hangar`', 'node', 'Prefix of the network namespaces the node makes (`<prefix>-<id>`).'),
  HANGAR_NET_PREWARM: s(count, '`4`', 'node', 'Network namespaces kept ready ahead of creates (`0` turns the pool off).'),
  HANGAR_RUNTIME: s(z.enum(['runc']), '`runc`', 'node', 'The sandbox driver instances run on unless they name one.'),
  HANGAR_CGROUP_PARENT: s(z.string().regex(/^\/[A-Za-z0-9_./-]*$/, 'must be an absolute cgroup path'), '`/hangar`', 'node', 'cgroup under which every sandbox\'s cgroup is made.'),
  HANGAR_MAX_MEMORY_MB: s(positive, '`8192`', 'node', 'Largest `memory_mb` one instance may ask for.'),
  HANGAR_QUOTA_INSTANCES: s(positive, '`64`', 'node', 'Instances one (non-admin) user may have.'),
  HANGAR_QUOTA_LIVE_MEMORY_MB: s(positive, '`4096`', 'node', 'Memory (MB) one user\'s live instances may ask for together.'),
  HANGAR_QUOTA_LIVE_VCPUS: s(positive, '`8`', 'node', 'vCPUs one user\'s live instances may ask for together.'),
  HANGAR_QUOTA_REGISTRY_MB: s(positive, '`2048`', 'node', 'MB one user\'s repositories may hold in the node\'s registry (blobs and open uploads; deleting an image frees its share).'),
  HANGAR_OVERCOMMIT_MEMORY: s(ratio, '`4`', 'node', 'Live instances\' memory the node admits, as a multiple of the host\'s memory (limits are maxima; idle apps use little).'),
  HANGAR_OVERCOMMIT_CPU: s(ratio, '`128`', 'node', 'Live instances\' vCPUs the node admits, as a multiple of the host\'s cores (a vCPU is a CFS cap, not a reservation).'),
  HANGAR_STOP_GRACE_MS: s(count, '`10000`', 'node', 'How long a graceful stop waits after SIGTERM before SIGKILL.'),
  HANGAR_CENTRAL_REGISTRY: s(registryUrl, '— (none)', 'node', 'Registry the node pulls images from when it does not hold them.'),
  HANGAR_CENTRAL_USER: s(z.string(), '—', 'node', 'User name for the central registry.'),
  HANGAR_CENTRAL_PASSWORD: s(z.string(), '—', 'node', 'Password for the central registry (with `HANGAR_CENTRAL_USER`).'),
  HANGAR_ALLOWED_REGISTRIES: s(registryList, '`ghcr.io,quay.io,gcr.io,registry.k8s.io,public.ecr.aws,mcr.microsoft.com,index.unikraft.io,unikraft.org`', 'node', 'Registries (`host[:port]`, comma-separated; no port = any) a full image reference may pull from besides the central registry. Hosts listed here may be on loopback, link-local or the node\'s own subnets; the defaults may not.'),
  HANGAR_REGISTRY_MAX_BLOB_BYTES: s(positive, '`10737418240` (10 GiB)', 'node', 'Largest blob the node\'s registry accepts.'),
  HANGAR_REGISTRY_MAX_MANIFEST_BYTES: s(positive, '`4194304` (4 MiB)', 'node', 'Largest manifest the node\'s registry accepts.'),
  HANGAR_LOG_LEVEL: s(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), '`info`', 'node, cli', 'Level of the structured (JSON, stderr) log.'),
  HANGAR_DEBUG: s(flag, '— (off)', 'cli', '`1` prints the stack of an unexpected CLI error.'),
  HANGAR_RUNTIMES_DIR: s(absPath, '`runtimes/` of the checkout', 'cli', 'Folder of the runtime recipes builds start from.'),
  HANGAR_BUILD_CACHE: s(absPath, '`$HANGAR_HOME/build`', 'cli', 'Build cache (built runtimes, layers).'),
  HANGAR_DEBIAN_MIRROR: s(z.string().url(), '`http://deb.debian.org/debian`', 'cli', 'Debian mirror the runtime recipes are built from.'),
  HANGAR_DEBIAN_SECURITY_MIRROR: s(z.string().url(), '`http://deb.debian.org/debian-security`', 'cli', 'Debian security mirror for the runtime recipes.'),
} as const;

type Settings = typeof SETTINGS;
export type SettingName = keyof Settings;
/** The validated values of the variables that are set (empty counts as unset). */
export type SettingValues = { [K in SettingName]?: z.output<Settings[K]['schema']> };

/** Validates every `HANGAR_*` variable that is set; throws invalid_argument naming the first bad one. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): SettingValues {
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as Array<[SettingName, Setting<z.ZodType>]>) {
    const raw = env[key];
    if (raw === undefined || (raw === '' && key !== 'HANGAR_CENTRAL_PASSWORD')) continue;
    const r = setting.schema.safeParse(raw);
    if (!r.success) throw invalid(key, `'${raw}' ${r.error.issues[0]?.message ?? 'is not valid'}`);
    out[key] = r.data;
  }
  return out as SettingValues;
}

/** `HANGAR_*` variables in `env` that hangar does not know (likely typos), for a warning at start. */
export function unknownSettings(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.keys(env).filter((k) => k.startsWith('HANGAR_') && !(k in SETTINGS) && !k.startsWith('HANGAR_TEST_')).sort();
}

/** `$HANGAR_HOME`, else `$HOME/.hangar`: the one place this default is computed. */
export function hangarHome(env: NodeJS.ProcessEnv = process.env): string {
  return readSettings(env).HANGAR_HOME ?? join(resolve(env['HOME'] || homedir()), '.hangar');
}

/** The README's configuration table, made from SETTINGS. */
export function settingsTable(): string {
  const rows = Object.entries(SETTINGS).map(([k, v]) => `| \`${k}\` | ${v.shown} | ${v.scope} | ${v.doc} |`);
  return ['| variable | default | read by | what it sets |', '|---|---|---|---|', ...rows].join('\n');
}
