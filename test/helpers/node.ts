import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { configFromEnv, type NodeConfig } from '../../src/node/config.js';
import { startNode, type RunningNode } from '../../src/node/node.js';
import { CniNetwork } from '../../src/net/driver.js';
import { createLogger } from '../../src/lib/log.js';
import { after, before } from 'node:test';
import { findLeaks, removeCgroupParent } from './leaks.js';
import type { Envelope } from './envelope.js';
export type { Envelope };

export const REPO = resolve(new URL('../../..', import.meta.url).pathname);
export const HELLO_ARCHIVE = join(REPO, 'build', 'images', 'hello.oci.tar');


export interface ApiResult {
  status: number;
  json: Envelope;
  /** data.<key>[], the entries */
  items: Array<Record<string, unknown>>;
}

export interface TestConfigOptions {
  /** Names its home, cgroup parent, bridge and netns prefix: `it` → hangar-it-*, hgt*; `bench` → hangar-bench-*, hgb*. */
  kind?: 'it' | 'bench';
  subnet?: string;
  prewarm?: number;
}

/** A node config private to one test: its own home, port, bridge, subnet and netns prefix. */
export function testConfig(o: TestConfigOptions = {}): NodeConfig {
  const kind = o.kind ?? 'it';
  const short = kind === 'it' ? 'hgt' : 'hgb';
  const tag = randomBytes(3).toString('hex');
  const home = mkdtempSync(join(tmpdir(), `hangar-${kind}-${tag}-`));
  chmodSync(home, 0o711);
  const b = randomBytes(2);
  return configFromEnv({}, {
    home,
    host: '127.0.0.1',
    port: 0,
    binDir: join(REPO, 'build', 'bin'),
    stopGraceMs: 2000,
    // Never the host's 80/443: each test node's ingress takes free local ports.
    ingress: { host: '127.0.0.1', ports: new Map([[80, 0], [443, 0]]) },
    cgroupParent: `/hangar-${kind}-${tag}`,
    network: { bridge: `${short}${tag}`, subnet: o.subnet ?? `10.${200 + (b[0]! % 50)}.${b[1]!}.0/24`, netnsPrefix: `${short}${tag}`, prewarm: o.prewarm ?? 0 },
  });
}

export function apiClient(url: string, token: string) {
  return async (method: string, path: string, body?: unknown, tok: string = token): Promise<ApiResult> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tok}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as Envelope;
    return { status: res.status, json, items: Object.values(json.data ?? {})[0] ?? [] };
  };
}

export interface TestNode {
  node: RunningNode;
  url: string;
  token: string;
  config: NodeConfig;
  api: ReturnType<typeof apiClient>;
  /** Deletes every instance, stops the node, removes its network and home; throws if anything leaked. */
  close(): Promise<void>;
}

/** A real node in this process, with the hello image imported. */
export async function startTestNode(config: NodeConfig = testConfig()): Promise<TestNode> {
  const node = await startNode(config, createLogger('hangar-test', process.env['HANGAR_LOG_LEVEL'] ?? 'warn'));
  const token = node.adminToken!;
  await node.images.import(HELLO_ARCHIVE, { ref: 'hello:latest' });
  const api = apiClient(node.url, token);
  return {
    node,
    url: node.url,
    token,
    config,
    api,
    close: () => teardown(config, async () => {
      const all = await api('GET', '/v1/instances?details=false').catch(() => undefined);
      if (all && all.items.length > 0) await api('DELETE', '/v1/instances', all.items.map((i) => ({ uuid: i['uuid'] })));
      await node.stop();
    }),
  };
}

/** Stops whatever runs the node, then removes the test's network, home, and checks for leaks. */
export async function teardown(config: NodeConfig, stopNode: () => Promise<void>): Promise<void> {
  let firstError: unknown;
  try {
    await stopNode();
  } catch (e) {
    firstError = e;
  }
  const net = new CniNetwork({ stateDir: join(config.home, 'net'), bridge: config.network.bridge, subnet: config.network.subnet, netnsPrefix: config.network.netnsPrefix });
  await net.destroy().catch((e: unknown) => (firstError ??= e));
  const leaks = await findLeaks({ home: config.home, netnsPrefix: config.network.netnsPrefix, bridge: config.network.bridge, cgroupParent: config.cgroupParent });
  removeCgroupParent(config.cgroupParent);
  // A leaked mount makes the removal fail (EBUSY): the leak list says which, so it goes first.
  if (leaks.length > 0) throw new Error(`leaked after teardown${firstError ? ` (after: ${String(firstError)})` : ''}:\n  ${leaks.join('\n  ')}`);
  rmSync(config.home, { recursive: true, force: true });
  if (firstError) throw firstError;
}

/** A node as a separate process (`bin/hangar node`), for kill -9 tests. */
export async function spawnNodeProcess(config: NodeConfig, port: number): Promise<{ child: ChildProcess; url: string; token: string }> {
  const env = {
    ...process.env,
    HANGAR_HOME: config.home,
    HANGAR_LISTEN: `127.0.0.1:${port}`,
    HANGAR_BRIDGE: config.network.bridge,
    HANGAR_SUBNET: config.network.subnet,
    HANGAR_NETNS_PREFIX: config.network.netnsPrefix,
    HANGAR_NET_PREWARM: '0',
    HANGAR_INGRESS_PORTS: '80=0,443=0',
    HANGAR_STOP_GRACE_MS: String(config.stopGraceMs),
    HANGAR_CGROUP_PARENT: config.cgroupParent,
    HANGAR_LOG_LEVEL: process.env['HANGAR_LOG_LEVEL'] ?? 'warn',
  };
  const child = spawn(process.execPath, [join(REPO, 'bin', 'hangar'), 'node'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node process exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/v1/healthz`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('node process did not come up in 20 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url, token: readFileSync(join(config.home, 'token'), 'utf8').trim() };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** GET http://ip:port/path from the host into an instance's netns, with a bounded timeout. */
export async function httpGet(ip: string, port: number, path = '/', timeoutMs = 3000): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${ip}:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

/** Polls fn until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out${last ? `: ${String(last)}` : ''}`);
    await sleep(stepMs);
  }
}

/**
 * One node for a whole test file: started before its tests, closed (deleting
 * every instance and checking for leaks) after them, even when they fail.
 */
export function useTestNode(): { readonly n: TestNode; getOne(name: string): Promise<Record<string, unknown>> } {
  let node: TestNode | undefined;
  before(async () => {
    node = await startTestNode();
  });
  after(async () => {
    await node?.close();
  });
  return {
    get n(): TestNode {
      if (!node) throw new Error('the test node is not started (use it inside a test)');
      return node;
    },
    getOne: async (name) => (await node!.api('GET', `/v1/instances?name=${name}`)).items[0]!,
  };
}
