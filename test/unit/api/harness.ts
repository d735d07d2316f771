import { createApi } from '../../../src/api/app.js';
import { hashToken } from '../../../src/api/auth.js';
import { DEFAULT_LIMITS } from '../../../src/core/instances/input.js';
import { Lifecycle } from '../../../src/core/instances/lifecycle.js';
import { InstanceService } from '../../../src/core/instances/service.js';
import { ServiceGroupService } from '../../../src/core/services/service.js';
import { systemClock } from '../../../src/core/ports/clock.js';
import { KeyedMutex } from '../../../src/lib/mutex.js';
import type { ImageStore, ResolvedImage } from '../../../src/core/ports/images.js';
import type { NetworkDriver } from '../../../src/core/ports/network.js';
import type { RuntimeDriver } from '../../../src/core/ports/runtime.js';
import type { RomStore } from '../../../src/core/ports/roms.js';
import { HangarError } from '../../../src/lib/errors.js';
import { DriverRegistry } from '../../../src/runtime/registry.js';
import { silentLogger } from '../../../src/lib/log.js';
import { FileLogStore } from '../../../src/store/logs.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { Envelope } from '../../helpers/envelope.js';
import { tempDir } from '../../helpers/temp.js';
export type { Envelope };

/**
 * The API over a real (in-memory) SQLite store, for tests of parsing,
 * validation, envelopes, paging and ownership. Nothing here starts a sandbox:
 * the runtime and network refuse to (integration tests cover those), and the
 * only image is `hello:latest`.
 */
const refuse = (what: string) => (): never => {
  throw new Error(`unit test reached the ${what}`);
};

const images: ImageStore = {
  async resolve(ref: string): Promise<ResolvedImage> {
    if (ref === 'hello' || ref === 'hello:latest') {
      return { ref: 'hello:latest', digest: 'sha256:' + '0'.repeat(64), rootfs: '/nonexistent', sizeBytes: 1, config: { entrypoint: ['/hello'], cmd: [], env: [], workingDir: '/', user: '' } };
    }
    throw new HangarError('not_found', `image '${ref}' not found on this node`);
  },
  list: async () => [],
};

const runtime: RuntimeDriver = {
  name: 'none',
  imageKinds: ['oci'],
  mountTypes: ['bind', 'tmpfs'],
  rootKinds: ['dir'],
  freezer: { pause: refuse('runtime'), resume: refuse('runtime') },
  readiness: { ready: refuse('runtime') },
  start: refuse('runtime'),
  waitExit: refuse('runtime'),
  kill: refuse('runtime'),
  remove: async () => undefined, // deleting a never-started instance asks to remove nothing
  inspect: async () => undefined,
  list: async () => [],
  stats: refuse('runtime'),
};
const runtimes = new DriverRegistry([runtime], 'none');

const network: NetworkDriver = {
  attach: refuse('network'),
  detach: async () => undefined,
  list: async () => [],
  recover: async () => undefined,
  counters: refuse('network'),
  setName: () => undefined,
  removeName: () => undefined,
};

/** `roms`: a ROM store for tests of ROM requests (default: none, as a node without ROM support). */
export function apiHarness(o: { roms?: RomStore; path?: string } = {}) {
  const store = new SqliteStore(o.path ?? ':memory:');
  const logs = new FileLogStore(tempDir('hangar-unit-logs-'));
  const lifecycle = new Lifecycle({ store, runtimes, network, images, logs, clock: systemClock, logger: silentLogger, locks: new KeyedMutex(), nodeId: 'test-node', stopGraceMs: 100, ...(o.roms ? { roms: o.roms } : {}) });
  const services = new ServiceGroupService({ store, clock: systemClock, domain: 'localhost' });
  const instances = new InstanceService({ store, images, network, logs, clock: systemClock, limits: DEFAULT_LIMITS, lifecycle, groups: services, ...(o.roms ? { roms: o.roms } : {}) });
  const app = createApi({ instances, users: store, limits: DEFAULT_LIMITS, baseUrl: 'http://127.0.0.1:0', version: 'test', services }, silentLogger);
  const addUser = (name: string, admin = false): string => {
    const token = `tok-${name}`;
    store.createUser({ uuid: crypto.randomUUID(), name, admin, createdAt: new Date().toISOString() }, hashToken(token));
    return token;
  };
  const adminToken = addUser('admin', true);
  const call = async (method: string, path: string, opts: { body?: unknown; rawBody?: string; token?: string; auth?: string } = {}) => {
    const headers: Record<string, string> = {};
    const auth = opts.auth ?? `Bearer ${opts.token ?? adminToken}`;
    if (auth !== '') headers['authorization'] = auth;
    let body: string | undefined;
    if (opts.rawBody !== undefined) body = opts.rawBody;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers, ...(body !== undefined ? { body } : {}) });
    return { status: res.status, json: (await res.json()) as Envelope };
  };
  return { app, store, call, addUser, adminToken, close: () => store.close() };
}

