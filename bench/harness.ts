/**
 * What every benchmark shares: a real node started in this process with its own
 * home, bridge, subnet and netns prefix (like test/helpers/node.ts, but with the
 * network prewarm pool on, as `make run` has it), an API client with timeouts,
 * a first-byte probe, and a teardown that removes everything and fails loudly if
 * anything of this bench's was left on the host.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { NodeConfig } from '../src/node/config.js';
import { startNode, type RunningNode } from '../src/node/node.js';
import { CniNetwork } from '../src/net/driver.js';
import { createLogger } from '../src/lib/log.js';
import { exec } from '../src/lib/exec.js';
import { findLeaks, removeCgroupParent } from '../test/helpers/leaks.js';
import { testConfig } from '../test/helpers/node.js';

export const REPO = resolve(new URL('../..', import.meta.url).pathname);
export const HELLO_ARCHIVE = join(REPO, 'build', 'images', 'hello.oci.tar');
export const HELLO_PORT = 8080;

// ---- abort (Ctrl-C) -------------------------------------------------------------------------

let abortReason: string | undefined;
export function requestAbort(why: string): void {
  abortReason ??= why;
}
/** Throws once an abort was requested; benchmark loops call it between runs. */
export function checkAbort(): void {
  if (abortReason !== undefined) throw new Error(`aborted (${abortReason})`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const now = (): number => performance.now();

// ---- host facts -----------------------------------------------------------------------------

export interface HostInfo {
  nproc: number;
  cpu: string;
  memGiB: number;
  kernel: string;
  runc: string;
  node: string;
}

export async function hostInfo(): Promise<HostInfo> {
  const r = await exec('runc', ['--version'], { allowFailure: true, timeoutMs: 5000 });
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    runc: r.stdout.split('\n')[0]?.replace(/^runc version\s*/, '') ?? 'unknown',
    node: process.version,
  };
}

// ---- addresses ------------------------------------------------------------------------------

const ipInt = (ip: string): number => ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);

/** Every IPv4 CIDR the host routes (any table) or has on an interface. */
async function hostCidrs(): Promise<Array<[number, number]>> {
  const out: Array<[number, number]> = [];
  const routes = await exec('ip', ['-4', '-o', 'route', 'show', 'table', 'all'], { allowFailure: true, timeoutMs: 5000 });
  const addrs = await exec('ip', ['-4', '-o', 'addr', 'show'], { allowFailure: true, timeoutMs: 5000 });
  const re = /(?:^|\s)(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?(?=\s|$)/g;
  for (const text of [routes.stdout, addrs.stdout]) {
    for (const line of text.split('\n')) {
      if (line.startsWith('default') || line.startsWith('broadcast') || line.startsWith('local')) continue;
      for (const m of line.matchAll(re)) {
        const len = m[2] === undefined ? 32 : Number(m[2]);
        out.push([ipInt(m[1]!), len]);
      }
    }
  }
  return out;
}

function overlaps(a: [number, number], b: [number, number]): boolean {
  const len = Math.min(a[1], b[1]);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return ((a[0] & mask) >>> 0) === ((b[0] & mask) >>> 0);
}

/**
 * A /len block inside 10.<second>.0.0/16 that nothing on the host routes or uses.
 * 10.200–249 is where the tests pick their subnets, 10.77/16 is `make run`'s, so
 * the benches use 10.250 (raw runc pairs) and 10.251 (bench nodes).
 */
export async function freeBlock(second: number, len: number): Promise<string> {
  const used = await hostCidrs();
  const size = 2 ** (32 - len);
  const count = 65536 / size;
  const start = randomBytes(2).readUInt16BE(0) % count;
  for (let k = 0; k < count; k++) {
    const base = ipInt(`10.${second}.0.0`) + ((start + k) % count) * size;
    if (!used.some((u) => overlaps(u, [base, len]))) {
      return `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.')}/${len}`;
    }
  }
  throw new Error(`no free /${len} left in 10.${second}.0.0/16`);
}

// ---- the node -------------------------------------------------------------------------------

export interface ApiResult {
  status: number;
  json: { status?: string; message?: string; data?: Record<string, Array<Record<string, unknown>>>; op_time_us?: number };
  items: Array<Record<string, unknown>>;
  /** Client-side wall time of the request, ms. */
  ms: number;
}

export type Api = (method: string, path: string, body?: unknown, timeoutMs?: number) => Promise<ApiResult>;

export function apiClient(url: string, token: string): Api {
  return async (method, path, body, timeoutMs = 60_000) => {
    const t0 = now();
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const json = (await res.json()) as ApiResult['json'];
    const ms = now() - t0;
    return { status: res.status, json, items: Object.values(json.data ?? {})[0] ?? [], ms };
  };
}

export interface BenchNode {
  node: RunningNode;
  config: NodeConfig;
  api: Api;
  /** Instance uuids this bench created (their cgroups are removed if the API could not). */
  created: Set<string>;
  /** POST /v1/instances for hello:latest; remembers the uuid. */
  create(body?: Record<string, unknown>, timeoutMs?: number): Promise<ApiResult>;
  /** Waits (bounded) until the prewarm pool is full again; false if it did not refill in time. */
  waitPool(timeoutMs?: number): Promise<boolean>;
  /** Deletes every instance, stops the node, removes its network and home; throws if anything leaked. */
  close(): Promise<void>;
}

export interface BenchNodeOptions {
  prewarm: number;
  /** Subnet prefix length (default 24; the memory bench needs room for 200+ instances). */
  subnetLen?: number;
  /** The node's central registry (a node pulls only from central and its allow-list). */
  central?: NodeConfig['central'];
}

export async function benchConfig(o: BenchNodeOptions): Promise<NodeConfig> {
  const config = testConfig({ kind: 'bench', subnet: await freeBlock(251, o.subnetLen ?? 24), prewarm: o.prewarm });
  return o.central ? { ...config, central: o.central } : config;
}

export async function startBenchNode(o: BenchNodeOptions): Promise<BenchNode> {
  for (const f of [HELLO_ARCHIVE, join(REPO, 'build', 'bin', 'hangar-shim')]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`make images\` (or make build/bin/hangar-shim build/bin/hello && node dist/scripts/make-hello-image.js ${HELLO_ARCHIVE})`);
  }
  const config = await benchConfig(o);
  const created = new Set<string>();
  let node: RunningNode | undefined;
  const closeAll = (): Promise<void> => teardownBenchNode(config, node, created);
  try {
    node = await startNode(config, createLogger('hangar-bench', process.env['HANGAR_LOG_LEVEL'] ?? 'warn'));
    await node.images.import(HELLO_ARCHIVE, { ref: 'hello:latest' });
  } catch (e) {
    await closeAll().catch((ce: unknown) => process.stderr.write(`cleanup after a failed node start: ${String(ce)}\n`));
    throw e;
  }
  const n = node;
  const api = apiClient(n.url, n.adminToken!);
  const bn: BenchNode = {
    node: n,
    config,
    api,
    created,
    async create(body = {}, timeoutMs = 60_000) {
      const r = await api('POST', '/v1/instances', { image: 'hello:latest', autostart: true, timeout_s: 10, ...body }, timeoutMs);
      for (const it of r.items) if (typeof it['uuid'] === 'string') created.add(it['uuid']);
      return r;
    },
    async waitPool(timeoutMs = 15_000) {
      const deadline = now() + timeoutMs;
      while (n.network.poolSize < config.network.prewarm) {
        if (now() > deadline) return false;
        await sleep(5);
      }
      return true;
    },
    close: async () => {
      try {
        const all = await api('GET', '/v1/instances?details=false', undefined, 30_000);
        for (const it of all.items) if (typeof it['uuid'] === 'string') created.add(it['uuid']);
        if (all.items.length > 0) await api('DELETE', '/v1/instances', all.items.map((i) => ({ uuid: i['uuid'] })), 120_000);
      } catch (e) {
        process.stderr.write(`bench teardown: deleting the instances through the API failed: ${String(e)}\n`);
      }
      await closeAll();
    },
  };
  return bn;
}

/** Everything of a bench node goes: sandboxes (forcefully if the API could not), node, network, home. */
async function teardownBenchNode(config: NodeConfig, node: RunningNode | undefined, created: Set<string>): Promise<void> {
  let firstError: unknown;
  const step = async (fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      firstError ??= e;
    }
  };
  if (node) await step(() => node.stop());
  // node.stop() does not wait for background work (e.g. an exit watcher's cleanup still running
  // `runc delete`): give processes of this home that are not shims a moment to finish.
  const shimPath = join(config.binDir, 'hangar-shim');
  await waitFor(() => ownProcesses(config.home).every((p) => cmdline(p).startsWith(shimPath)), 5000);
  // Sandboxes the API did not remove: runc delete -f each; their shims then exit by themselves.
  const runcRoot = join(config.home, 'run', 'runc');
  if (existsSync(runcRoot)) {
    const ids = (await exec('runc', ['--root', runcRoot, 'list', '-q'], { allowFailure: true, timeoutMs: 30_000 })).stdout.split('\n').filter(Boolean);
    for (const id of ids) {
      created.add(id);
      await exec('runc', ['--root', runcRoot, 'delete', '--force', id], { allowFailure: true, timeoutMs: 30_000 });
    }
  }
  // Last resort for shims still alive (their sandbox is gone): kill them, by pid.
  if (!(await waitFor(() => ownProcesses(config.home).length === 0, 5000))) {
    for (const pid of ownProcesses(config.home)) {
      if (!cmdline(pid).startsWith(shimPath)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await waitFor(() => ownProcesses(config.home).length === 0, 2000);
  }
  for (const id of created) removeCgroup(`${config.cgroupParent}/${id}`);
  const net = new CniNetwork({ stateDir: join(config.home, 'net'), bridge: config.network.bridge, subnet: config.network.subnet, netnsPrefix: config.network.netnsPrefix });
  await step(() => net.destroy());
  const leaks = await findLeaks({ home: config.home, netnsPrefix: config.network.netnsPrefix, bridge: config.network.bridge, cgroupParent: config.cgroupParent });
  removeCgroupParent(config.cgroupParent);
  removeCgroup(config.cgroupParent); // also where removeCgroupParent does not look (e.g. the cgroup2 'unified' mount)
  if (cgroupExists(config.cgroupParent)) leaks.push(`cgroup ${config.cgroupParent} (in some hierarchy)`);
  rmSync(config.home, { recursive: true, force: true });
  if (firstError) throw firstError;
  if (leaks.length > 0) throw new Error(`bench leaked:\n  ${leaks.join('\n  ')}`);
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = now() + timeoutMs;
  while (!cond()) {
    if (now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Pids whose command line mentions `home` (this bench node's shims, runc calls), never this process. */
export function ownProcesses(home: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    if (cmdline(Number(p)).includes(home)) pids.push(Number(p));
  }
  return pids;
}

/** rmdir <every hierarchy>/<rel> if it exists (empty cgroups only; best effort). */
export function removeCgroup(rel: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
    .map((f) => f[1]!);
  for (const m of mounts) {
    const d = join(m, rel);
    if (!existsSync(d)) continue;
    try {
      rmdirSync(d);
    } catch {
      // busy or not ours to force
    }
  }
}

/** Whether <any hierarchy>/<rel> exists. */
export function cgroupExists(rel: string): boolean {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
    .some((f) => existsSync(join(f[1]!, rel)));
}

// ---- timing the node's own calls ------------------------------------------------------------

/**
 * Wraps the async method obj[key] of the in-process node (e.g. node.runtime.start)
 * so that onDone(ms, args) hears how long each call took; returns the undo.
 */
export function wrapAsync<T extends object>(obj: T, key: keyof T & string, onDone: (ms: number, args: unknown[]) => void): () => void {
  const orig = obj[key] as unknown as (...a: unknown[]) => Promise<unknown>;
  if (typeof orig !== 'function') throw new Error(`wrapAsync: ${key} is not a method`);
  const own = Object.prototype.hasOwnProperty.call(obj, key);
  const wrapped = async function (this: unknown, ...a: unknown[]): Promise<unknown> {
    const t0 = performance.now();
    try {
      return await orig.apply(this, a);
    } finally {
      onDone(performance.now() - t0, a);
    }
  };
  (obj as Record<string, unknown>)[key] = wrapped;
  return () => {
    if (own) (obj as Record<string, unknown>)[key] = orig;
    else delete (obj as Record<string, unknown>)[key];
  };
}

// ---- probing an instance --------------------------------------------------------------------

/** One attempt: TCP connect, send a GET, resolve at the first byte of the answer. */
function probeOnce(ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: ip, port });
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      res(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.once('connect', () => s.write(`GET / HTTP/1.1\r\nHost: ${ip}\r\nConnection: close\r\n\r\n`));
    s.once('data', () => finish(true));
    s.once('error', () => finish(false));
    s.once('close', () => finish(false));
  });
}

/**
 * Polls ip:port in a tight loop (attempts of at most `attemptMs`, 1 ms apart)
 * until an HTTP answer's first byte arrives; returns performance.now() of that
 * moment, or undefined after `deadlineMs`.
 */
export async function firstByte(ip: string, port = HELLO_PORT, deadlineMs = 10_000, attemptMs = 250): Promise<number | undefined> {
  const deadline = now() + deadlineMs;
  for (;;) {
    if (await probeOnce(ip, port, attemptMs)) return now();
    if (now() > deadline) return undefined;
    await sleep(1);
  }
}

/** Memory of a process from /proc/<pid>/smaps_rollup (kB → bytes); undefined if it is gone. */
export function procMemory(pid: number): { rss: number; pss: number } | undefined {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0) * 1024;
    return { rss: kb('Rss'), pss: kb('Pss') };
  } catch {
    return undefined;
  }
}

export function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)(?: kB)?$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * (line.endsWith('kB') ? 1024 : 1);
  }
  return out;
}

// ---- other work on the machine ----------------------------------------------------------------

interface ProcTimes {
  ppid: number;
  /** utime + stime of the process itself (not its reaped children: they are counted on their own), clock ticks. */
  ticks: number;
}

function readProcs(): Map<number, ProcTimes> {
  const out = new Map<number, ProcTimes>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const t = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
      out.set(Number(p), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // exited
    }
  }
  return out;
}

/**
 * CPU time that user-space processes outside this process's tree used while a
 * benchmark ran (other engineers' tests, builds…), sampled twice a second so that
 * processes started meanwhile count too. A lower bound: what a process used after
 * its last sample before it exited is missed. Kernel threads are left out: they
 * also do this bench's own work (e.g. tearing down network namespaces).
 */
export class ForeignCpu {
  private readonly base = new Map<number, number>();
  private readonly last = new Map<number, { ticks: number; foreign: boolean }>();
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = now();

  constructor() {
    for (const [pid, p] of readProcs()) this.base.set(pid, p.ticks);
    this.timer = setInterval(() => this.sample(), 500);
    this.timer.unref();
  }

  private sample(): void {
    const procs = readProcs();
    const ours = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
        if (p === process.pid) return true;
        p = procs.get(p)?.ppid ?? 0;
      }
      return false;
    };
    const kernel = (pid: number): boolean => pid === 2 || procs.get(pid)?.ppid === 2;
    for (const [pid, p] of procs) this.last.set(pid, { ticks: p.ticks, foreign: !ours(pid) && !kernel(pid) });
  }

  /** Stops sampling; CPU-seconds used by others and that as a share of the machine's capacity. */
  stop(): { cpuSeconds: number; share: number } {
    clearInterval(this.timer);
    this.sample();
    let ticks = 0;
    for (const [pid, l] of this.last) if (l.foreign) ticks += Math.max(0, l.ticks - (this.base.get(pid) ?? 0));
    const cpuSeconds = ticks / 100; // USER_HZ
    const wall = (now() - this.t0) / 1000;
    return { cpuSeconds, share: wall > 0 ? cpuSeconds / (wall * cpus().length) : 0 };
  }
}
