import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { createApi } from '../api/app.js';
import { hashToken } from '../api/auth.js';
import { serve } from '../api/server.js';
import { Lifecycle } from '../core/instances/lifecycle.js';
import { instanceImages } from '../core/images/instances.js';
import type { PinRecord } from '../core/images/ports.js';
import { ImageService } from '../core/images/service.js';
import { InstanceService } from '../core/instances/service.js';
import { ServiceGroupService } from '../core/services/service.js';
import { systemClock } from '../core/ports/clock.js';
import { NodeImageCatalog } from '../image/catalog.js';
import { RegistryEgress } from '../image/egress.js';
import { ImagePuller } from '../image/puller.js';
import { LocalImageStore } from '../image/store.js';
import { createLogger, type Logger } from '../lib/log.js';
import { KeyedMutex } from '../lib/mutex.js';
import { CniNetwork } from '../net/driver.js';
import { createRegistryApi } from '../registry/http/app.js';
import { DiskRegistry } from '../registry/store.js';
import { DriverRegistry } from '../runtime/registry.js';
import { RuncDriver } from '../runtime/runc/driver.js';
import { FileLogStore } from '../store/logs.js';
import { SqliteStore } from '../store/sqlite.js';
import { ensureAdmin, ensureNodeId } from './bootstrap.js';
import type { NodeConfig } from './config.js';
import { takePidLock } from './pidlock.js';
import { ensureTraversable, makeHomePrivate } from './traverse.js';
import { nodeCapacity, tuneHost } from './host-tuning.js';
import { Admission } from '../core/instances/admission.js';
import { UploadQuota } from '../registry/quota.js';
import { instanceRomImages } from '../core/images/roms.js';
import { RomImageResolver } from '../image/rom-images.js';
import { RomFileStore } from '../image/rom-store.js';
import { LocalCa } from '../ingress/ca.js';
import { Ingress } from '../ingress/ingress.js';

export const VERSION = '0.1.0';

export interface RunningNode {
  url: string;
  /** The admin token, when the node knows it (first start, or the token file exists). */
  adminToken: string | undefined;
  config: NodeConfig;
  images: LocalImageStore;
  /** Resolves images for instances, pulling what the node lacks. */
  puller: ImagePuller;
  /** The images API's view: listing, pins, removal. */
  catalog: NodeImageCatalog;
  /** The node's registry storage (served at /v2/, shared with `images`). */
  registry: DiskRegistry;
  network: CniNetwork;
  runtime: RuncDriver;
  runtimes: DriverRegistry;
  store: SqliteStore;
  /** The HTTP(S) ingress of the service groups' domains. */
  ingress: Ingress;
  /** The node's local CA (its certificate at `<home>/ca.pem`). */
  ca: LocalCa;
  /** Stops serving; instances keep running for the next node process to adopt. */
  stop(): Promise<void>;
}

/**
 * The composition root: the only module that knows every implementation.
 * Start order: state → images → network → runtime → reconcile → API → ingress.
 */
export async function startNode(config: NodeConfig, logger: Logger = createLogger('hangar')): Promise<RunningNode> {
  mkdirSync(config.home, { recursive: true, mode: 0o711 });
  ensureTraversable(config.home, logger);
  tuneHost(logger);
  const releaseLock = takePidLock(config.home);
  const store = new SqliteStore(join(config.home, 'state.db'));
  const { token } = await ensureAdmin(store, config.home);
  const nodeId = ensureNodeId(config.home, config.nodeId);
  // One content store for /v2/ pushes, imports and the rootfs cache; the image service says what instances use or pins
  // keep (never collected or deleted), with pins in the registry's database.
  const registry = new DiskRegistry({ root: join(config.home, 'images'), limits: config.registryLimits, logger });
  await registry.init();
  const pins = registry.pinTable<PinRecord>();
  await pins.importJson(join(config.home, 'pins.json'), logger);
  const imageService = new ImageService({
    pins,
    clock: systemClock,
    sources: [
      instanceImages(() => store.allInstances(), (owner, repo) => store.ownerImageRefs(owner, repo)),
      instanceRomImages(() => store.allInstances(), (owner, repo) => store.ownerRomImageRefs(owner, repo)),
    ],
    repositories: registry.owners,
    userNamed: async (name) => (await store.getUserByName(name))?.uuid,
  });
  const images = new LocalImageStore({ root: join(config.home, 'images'), registry, rules: imageService, logger });
  await images.init();
  // What the node lacks is pulled from the central registry (or the registry a full reference names) on first use.
  // Drivers come before the puller: which image kinds this node can run is theirs to say.
  const runtime = new RuncDriver({ stateDir: join(config.home, 'run'), shimPath: join(config.binDir, 'hangar-shim'), cgroupParent: config.cgroupParent, logger });
  const runtimes = new DriverRegistry([runtime], config.runtime);
  const puller = new ImagePuller({ store: images, registry, central: config.central, logger, lease: (d) => imageService.lease(d), access: imageService, egress: new RegistryEgress({ central: config.central?.url, allowed: config.allowedRegistries, subnets: [config.network.subnet] }), runnable: (kind) => runtimes.runsKind(kind), driverName: runtimes.default.name });
  const catalog = new NodeImageCatalog({ registry, puller, images: imageService, userName: async (u) => (await store.getUser(u))?.name, gc: () => images.prune(), logger });
  // ROM bytes, one file per digest under the home; files no instance names (and temp leftovers) go at start.
  const roms = new RomFileStore({
    root: join(config.home, 'roms'),
    referenced: async () => new Set((await store.allInstances()).flatMap((i) => (i.roms ?? []).map((r) => r.digest))),
    images: new RomImageResolver({ puller, registry, lease: (d) => imageService.lease(d) }),
    blobPath: (d) => registry.blobPath(d),
    logger,
  });
  await roms.init();
  const network = new CniNetwork({ stateDir: join(config.home, 'net'), bridge: config.network.bridge, subnet: config.network.subnet, netnsPrefix: config.network.netnsPrefix, logger });
  await network.init();
  const logs = new FileLogStore(join(config.home, 'logs'));
  makeHomePrivate(config.home);
  const admission = new Admission(config.quotas, nodeCapacity(config.overcommit), nodeId);
  // What a user holds is read from the registry (falls when images are deleted); bodies in progress reserve on top.
  const uploadQuota = new UploadQuota({ stored: (uuid) => registry.owners.bytesOwnedBy(uuid), admit: (u, used, n) => admission.admitRegistryBytes(u, used, n) });
  const lifecycle = new Lifecycle({ store, runtimes, network, images: puller, logs, clock: systemClock, logger, locks: new KeyedMutex(), nodeId, stopGraceMs: config.stopGraceMs, admission, roms });
  const services = new ServiceGroupService({ store, clock: systemClock, domain: config.domain });
  const instances = new InstanceService({ store, images: puller, network, logs, clock: systemClock, limits: config.limits, lifecycle, admission, roms, groups: services });

  const rec = await lifecycle.reconcile();
  logger.info({ nodeId, ...rec }, 'reconciled instances with the host');
  if (config.network.prewarm > 0) void network.prewarm(config.network.prewarm).catch((e: unknown) => logger.warn({ err: String(e) }, 'network prewarm failed'));

  const baseUrl = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  const quotas = { hard: admission.quotas, capacity: admission.capacity, registryBytes: (uuid: string) => uploadQuota.used(uuid) };
  const app = createApi({ instances, users: store, limits: config.limits, baseUrl, version: VERSION, images: catalog, quotas, services }, logger);
  app.route('/v2', createRegistryApi(registry, { userForToken: (t) => store.userByTokenHash(hashToken(t)) }, { guard: imageService, access: imageService, quota: uploadQuota }));
  // Exit handling in flight writes to the store: the lifecycle closes before the store does.
  const closeCore = async (): Promise<void> => {
    await lifecycle.close();
    await network.close();
    registry.close();
    store.close();
    releaseLock();
  };
  let server: Server;
  try {
    server = await serve(app, config.host, config.port);
  } catch (e) {
    await closeCore();
    throw e;
  }
  // The ingress reads groups and instances from the store; the CA's key and root are made on the first start.
  const ca = new LocalCa(config.home);
  const ingress = new Ingress({ host: config.ingress.host, portMap: config.ingress.ports, ca, logger, routes: { groups: () => store.allServiceGroups(), instances: () => store.allInstances() } });
  try {
    await ca.init();
    await ingress.start();
  } catch (e) {
    await ingress.stop();
    await new Promise<void>((r) => server.close(() => r()));
    await closeCore();
    throw e;
  }
  // Hourly: untagged images and blobs nothing needs (never one an instance uses), expired upload sessions.
  const gcTimer = setInterval(() => void images.prune().then(() => registry.sweepUploads()).catch((e: unknown) => logger.warn({ err: String(e) }, 'image gc failed')), 3600_000);
  gcTimer.unref();
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, home: config.home }, 'hangar node ready');

  return {
    url,
    adminToken: token,
    config,
    images,
    puller,
    catalog,
    registry,
    network,
    runtime,
    runtimes,
    store,
    ingress,
    ca,
    async stop() {
      clearInterval(gcTimer);
      await ingress.stop();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
      await closeCore();
    },
  };
}
