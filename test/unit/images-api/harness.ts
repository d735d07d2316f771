/**
 * The images API in-process over real components: the node's DiskRegistry,
 * the ImagePuller, the NodeImageCatalog, SQLite. The "central" registry is a
 * second DiskRegistry served by the node's own /v2/ app on a loopback port
 * (requests counted). Sandboxes are never started: creates use autostart
 * false, and the local store's resolve only looks the image up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { createApi } from '../../../src/api/app.js';
import { hashToken } from '../../../src/api/auth.js';
import { serve } from '../../../src/api/server.js';
import type { AppEnv } from '../../../src/api/context.js';
import { DEFAULT_LIMITS } from '../../../src/core/instances/input.js';
import { Lifecycle } from '../../../src/core/instances/lifecycle.js';
import { InstanceService } from '../../../src/core/instances/service.js';
import { systemClock } from '../../../src/core/ports/clock.js';
import { KeyedMutex } from '../../../src/lib/mutex.js';
import { instanceImages } from '../../../src/core/images/instances.js';
import type { PinRecord } from '../../../src/core/images/ports.js';
import { ImageService } from '../../../src/core/images/service.js';
import type { ResolvedImage } from '../../../src/core/ports/images.js';
import type { NetworkDriver } from '../../../src/core/ports/network.js';
import type { RuntimeRegistry } from '../../../src/core/ports/runtime.js';
import type { Instance } from '../../../src/core/instance.js';
import { NodeImageCatalog } from '../../../src/image/catalog.js';
import { ImagePuller, type CentralRegistryConfig } from '../../../src/image/puller.js';
import type { LocalImages } from '../../../src/image/store.js';
import { lookupNames, parseReference } from '../../../src/oci/reference.js';
import { HangarError } from '../../../src/lib/errors.js';
import { silentLogger } from '../../../src/lib/log.js';
import { createRegistryApi } from '../../../src/registry/http/app.js';
import { DiskRegistry } from '../../../src/registry/store.js';
import { FileLogStore } from '../../../src/store/logs.js';
import { SqliteStore } from '../../../src/store/sqlite.js';

/** Any use of the runtime or network is a test bug: creates here never start. */
const refuse = <T extends object>(what: string): T =>
  new Proxy({} as T, { get: (_t, p) => (p === 'then' ? undefined : () => { throw new Error(`images unit test reached the ${what} (${String(p)})`); }) });

export interface RemoteRegistry {
  registry: DiskRegistry;
  url: string;
  token: string;
  /** `METHOD /path` of every request it answered other than with a 401 auth challenge. */
  requests: string[];
  /** The header names of every request it received. */
  headerNames: Set<string>;
  stop(): Promise<void>;
}

/** A DiskRegistry behind the node's /v2/ app on 127.0.0.1:<free port>; `token` is its only credential. */
export async function startRemoteRegistry(root: string, token = 'central-secret'): Promise<RemoteRegistry> {
  const registry = new DiskRegistry({ root, logger: silentLogger });
  await registry.init();
  const requests: string[] = [];
  const headerNames = new Set<string>();
  const app = new Hono<AppEnv>();
  app.use('*', async (c, next) => {
    c.req.raw.headers.forEach((_v, k) => headerNames.add(k.toLowerCase()));
    await next();
    if (c.res.status !== 401) requests.push(`${c.req.method} ${c.req.path}`);
  });
  app.route('/v2', createRegistryApi(registry, { userForToken: (t) => (t === token ? { uuid: '00000000-0000-4000-8000-000000000001', name: 'central-user', admin: true } : undefined) }) as unknown as Hono<AppEnv>);
  const server: Server = await serve(app, '127.0.0.1', 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    registry,
    url,
    token,
    requests,
    headerNames,
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      registry.close();
    },
  };
}

export async function imagesHarness(o: { central?: boolean; centralAuth?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-images-api-'));
  const store = new SqliteStore(':memory:');
  const registry = new DiskRegistry({ root: join(dir, 'local'), logger: silentLogger });
  await registry.init();
  const images = new ImageService({
    pins: registry.pinTable<PinRecord>(),
    clock: systemClock,
    sources: [instanceImages(() => store.allInstances())],
    repositories: registry.owners,
    userNamed: async (name) => (await store.getUserByName(name))?.uuid,
  });
  const remote = o.central ? await startRemoteRegistry(join(dir, 'remote')) : undefined;
  const resolved: string[] = [];
  const localStore: LocalImages = {
    resolveStored: async (image) => localStore.resolve(image.ref),
    async resolve(ref: string): Promise<ResolvedImage> {
      const r = parseReference(ref);
      for (const name of lookupNames(r)) {
        const m = await registry.getManifest(name, r.digest ?? r.tag ?? 'latest').catch(() => undefined);
        if (m) {
          resolved.push(ref);
          return { ref, digest: m.digest, rootfs: '/nonexistent', sizeBytes: 0, config: { entrypoint: [], cmd: [], env: [], workingDir: '', user: '' } };
        }
      }
      throw new HangarError('not_found', `image '${ref}' not found on this node`);
    },
    list: async () => [],
  };
  const central: CentralRegistryConfig | undefined = remote ? { url: remote.url, ...(o.centralAuth === false ? {} : { username: 'node', password: remote.token }) } : undefined;
  const puller = new ImagePuller({ store: localStore, registry, central, timeoutMs: 5000, lease: (d) => images.lease(d), access: images });
  const catalog = new NodeImageCatalog({
    registry,
    puller,
    images,
    userName: async (u) => (await store.getUser(u))?.name,
    gc: () => images.collect((keep) => registry.gc(keep, { graceMs: 0 })),
  });
  const logs = new FileLogStore(join(dir, 'logs'));
  const runtimes = refuse<RuntimeRegistry>('runtime');
  const network = refuse<NetworkDriver>('network');
  const lifecycle = new Lifecycle({ store, runtimes, network, images: puller, logs, clock: systemClock, logger: silentLogger, locks: new KeyedMutex(), nodeId: 'test-node', stopGraceMs: 100 });
  const instances = new InstanceService({ store, images: puller, network, logs, clock: systemClock, limits: DEFAULT_LIMITS, lifecycle });
  const app = createApi({ instances, users: store, limits: DEFAULT_LIMITS, baseUrl: 'http://127.0.0.1:8080', version: 'test', images: catalog }, silentLogger);

  const addUser = (name: string, admin = false): { token: string; uuid: string } => {
    const token = `tok-${name}`;
    const uuid = crypto.randomUUID();
    store.createUser({ uuid, name, admin, createdAt: new Date().toISOString() }, hashToken(token));
    return { token, uuid };
  };
  const admin = addUser('admin', true);
  const call = async (method: string, path: string, opts: { body?: unknown; token?: string } = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? admin.token}`, host: '127.0.0.1:8080' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
    const json = (await res.json()) as { status: string; message?: string; data?: Record<string, Array<Record<string, unknown>>> };
    return { status: res.status, json, items: Object.values(json.data ?? {})[0] ?? [] };
  };
  /** An instance record using `digest`, as create would have stored it (no sandbox). */
  const addInstance = (name: string, owner: string, image: string, imageDigest: string): Instance => {
    const inst: Instance = {
      uuid: crypto.randomUUID(), name, owner, createdAt: new Date().toISOString(), state: 'stopped', image, imageDigest,
      memoryMb: 128, vcpus: 1, restartPolicy: 'never', features: [], tags: [], hostname: name, deleteLock: false, startCount: 0, restartCount: 0, uptimeMs: 0,
    };
    store.insertInstance(inst);
    return inst;
  };
  return {
    dir,
    app,
    store,
    registry,
    remote,
    images,
    puller,
    catalog,
    resolved,
    admin,
    addUser,
    addInstance,
    call,
    async close() {
      await remote?.stop();
      registry.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
