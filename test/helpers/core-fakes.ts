import { HangarError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/log.js';
import { KeyedMutex } from '../../src/lib/mutex.js';
import type { Instance } from '../../src/core/instance.js';
import { Lifecycle } from '../../src/core/instances/lifecycle.js';
import type { ImageStore } from '../../src/core/ports/images.js';
import type { LogStore } from '../../src/core/ports/logs.js';
import type { NetworkDriver } from '../../src/core/ports/network.js';
import type { ProbeTarget, RuntimeDriver, SandboxExit, SandboxInfo, SandboxSpec } from '../../src/core/ports/runtime.js';
import { DriverRegistry } from '../../src/runtime/registry.js';
import type { GroupListOptions, GroupMember, ListOptions, LiveUsage, OwnerUsage, Store, UnitOfWork, User } from '../../src/core/ports/store.js';
import type { ServiceGroup } from '../../src/core/services/group.js';
import { usageOf } from '../../src/core/instances/admission.js';
import { FakeClock } from './fake-clock.js';

/**
 * In-memory stand-ins for the ports core uses, for unit tests of the
 * lifecycle with a fake clock: no processes, no disk. Integration tests use
 * the real drivers.
 */

const copy = <T>(v: T): T => structuredClone(v);

/** A Store over maps; records are copied in and out as a database would. */
export class MemoryStore implements Store {
  readonly instances = new Map<string, Instance>();
  private readonly users = new Map<string, { user: User; tokenHash: string }>();
  readonly groups = new Map<string, ServiceGroup>();

  async insertInstance(inst: Instance): Promise<void> {
    if ([...this.instances.values()].some((i) => i.name === inst.name)) throw new HangarError('already_exists', `name: ${inst.name}`);
    this.instances.set(inst.uuid, copy(inst));
  }
  async updateInstance(inst: Instance): Promise<void> {
    if (!this.instances.has(inst.uuid)) throw new HangarError('not_found', `instance ${inst.uuid} is gone`);
    this.instances.set(inst.uuid, copy(inst));
  }
  async deleteInstance(uuid: string): Promise<void> {
    const g = this.instances.get(uuid)?.serviceGroup;
    this.instances.delete(uuid);
    const group = g === undefined ? undefined : this.groups.get(g);
    if (group && !group.persistent && (await this.groupMembers(group.uuid)).length === 0) this.groups.delete(group.uuid);
  }
  async insertServiceGroup(g: ServiceGroup): Promise<void> {
    if ([...this.groups.values()].some((x) => x.name === g.name)) throw new HangarError('already_exists', `name: ${g.name}`);
    if ((await this.takenDomains(g.domains.map((d) => d.fqdn))).length > 0) throw new HangarError('already_exists', 'domain taken');
    this.groups.set(g.uuid, copy(g));
  }
  async updateServiceGroup(g: ServiceGroup): Promise<void> {
    if (!this.groups.has(g.uuid)) throw new HangarError('not_found', `service group ${g.uuid} is gone`);
    this.groups.set(g.uuid, copy(g));
  }
  async deleteServiceGroup(uuid: string): Promise<void> {
    this.groups.delete(uuid);
  }
  async getServiceGroup(uuid: string): Promise<ServiceGroup | undefined> {
    const g = this.groups.get(uuid);
    return g && copy(g);
  }
  async getServiceGroupByName(name: string): Promise<ServiceGroup | undefined> {
    return copy([...this.groups.values()].find((g) => g.name === name));
  }
  async listServiceGroups(o: GroupListOptions): Promise<ServiceGroup[]> {
    const mine = [...this.groups.values()].filter((g) => g.owner === o.owner).map(copy);
    return o.order === 'asc' ? mine : mine.reverse();
  }
  async allServiceGroups(): Promise<ServiceGroup[]> {
    return [...this.groups.values()].map(copy);
  }
  async takenDomains(fqdns: string[], exceptGroup?: string): Promise<string[]> {
    const held = new Set([...this.groups.values()].filter((g) => g.uuid !== exceptGroup).flatMap((g) => g.domains.map((d) => d.fqdn)));
    return fqdns.filter((f) => held.has(f));
  }
  async groupMembers(uuid: string): Promise<GroupMember[]> {
    return [...this.instances.values()].filter((i) => i.serviceGroup === uuid).map((i) => ({ uuid: i.uuid, name: i.name }));
  }
  async getInstance(uuid: string): Promise<Instance | undefined> {
    const i = this.instances.get(uuid);
    return i && copy(i);
  }
  async getInstanceByName(name: string): Promise<Instance | undefined> {
    return copy([...this.instances.values()].find((i) => i.name === name));
  }
  async listInstances(o: ListOptions): Promise<Instance[]> {
    const mine = [...this.instances.values()].filter((i) => i.owner === o.owner).map(copy);
    return o.order === 'asc' ? mine : mine.reverse();
  }
  async allInstances(): Promise<Instance[]> {
    return [...this.instances.values()].map(copy);
  }
  async nodeInstances(node: string): Promise<Instance[]> {
    return [...this.instances.values()].filter((i) => i.node === node).map(copy);
  }
  async ownerUsage(owner: string): Promise<OwnerUsage> {
    return usageOf([...this.instances.values()].filter((i) => i.owner === owner));
  }
  async ownerImageRefs(owner: string, containing: string): Promise<string[]> {
    return [...new Set([...this.instances.values()].filter((i) => i.owner === owner && i.image.includes(containing)).map((i) => i.image))];
  }
  async ownerRomImageRefs(owner: string, containing: string): Promise<string[]> {
    const refs = [...this.instances.values()].filter((i) => i.owner === owner).flatMap((i) => (i.roms ?? []).map((r) => r.image));
    return [...new Set(refs.filter((r): r is string => r !== undefined && r.includes(containing)))];
  }
  async nodeUsage(node: string): Promise<LiveUsage> {
    const { liveInstances, liveMemoryMb, liveVcpus } = usageOf([...this.instances.values()].filter((i) => i.node === node));
    return { liveInstances, liveMemoryMb, liveVcpus };
  }
  async adoptUnowned(node: string): Promise<number> {
    const unowned = [...this.instances.values()].filter((i) => i.node === undefined);
    for (const i of unowned) i.node = node;
    return unowned.length;
  }
  async createUser(user: User, tokenHash: string): Promise<void> {
    this.users.set(user.uuid, { user, tokenHash });
  }
  async userByTokenHash(hash: string): Promise<User | undefined> {
    return [...this.users.values()].find((u) => u.tokenHash === hash)?.user;
  }
  async getUser(uuid: string): Promise<User | undefined> {
    return this.users.get(uuid)?.user;
  }
  async getUserByName(name: string): Promise<User | undefined> {
    return [...this.users.values()].find((u) => u.user.name === name)?.user;
  }
  async listUsers(): Promise<User[]> {
    return [...this.users.values()].map((u) => u.user);
  }
  unitOfWork<T>(fn: (tx: UnitOfWork) => Promise<T>): Promise<T> {
    return fn(this);
  }
  close(): void {}
}

interface FakeSandbox {
  state: SandboxInfo['state'];
  startedMs?: number;
  exit?: SandboxExit;
  waiters: Array<(e: SandboxExit) => void>;
}

/**
 * A runtime whose apps run until the test ends them (`exit`) or a signal in
 * `diesOn` arrives. `calls` records what core asked for, in order.
 */
export class FakeRuntime implements RuntimeDriver {
  readonly name = 'fake';
  readonly imageKinds = ['oci'] as const;
  readonly mountTypes = ['bind', 'tmpfs'] as const;
  readonly rootKinds = ['dir'] as const;
  readonly freezer = { pause: (id: string) => this.pause(id), resume: (id: string) => this.resume(id) };
  readonly readiness = { ready: (t: ProbeTarget) => this.listening(t.id) };
  readonly sandboxes = new Map<string, FakeSandbox>();
  readonly calls: string[] = [];
  /** Exits of removed sandboxes: a late waitExit still learns how the app ended. */
  private readonly ended = new Map<string, SandboxExit>();
  /** Signals the app does not handle (SIGTERM can be taken out to model an app that ignores it). */
  diesOn = new Set<string>(['SIGTERM', 'SIGKILL']);
  /** How long after start the app listens on a port. */
  listensAfterMs = 0;

  constructor(private readonly clock: FakeClock) {}

  /** Puts a sandbox on the "host" as if an earlier node process had started it. */
  put(id: string, state: SandboxInfo['state'], exit?: SandboxExit): void {
    this.sandboxes.set(id, { state, waiters: [], ...(exit ? { exit } : {}) });
  }

  exit(id: string, e: Partial<SandboxExit> = {}): void {
    const sb = this.sandboxes.get(id);
    if (!sb || sb.exit) throw new Error(`sandbox ${id} is not running`);
    sb.state = 'stopped';
    sb.exit = { exitCode: null, signal: null, oomKilled: false, at: this.clock.now(), ...e };
    for (const w of sb.waiters.splice(0)) w(sb.exit);
  }

  async start(spec: SandboxSpec): Promise<{ pid: number }> {
    this.calls.push(`start ${spec.id}`);
    this.put(spec.id, 'running');
    this.sandboxes.get(spec.id)!.startedMs = this.clock.now().getTime();
    return { pid: 4242 };
  }
  waitExit(id: string): Promise<SandboxExit> {
    const sb = this.sandboxes.get(id);
    const ended = this.ended.get(id);
    if (!sb) return ended ? Promise.resolve(ended) : Promise.reject(new HangarError('not_found', `no sandbox ${id}`));
    if (sb.exit) return Promise.resolve(sb.exit);
    return new Promise((r) => sb.waiters.push(r));
  }
  async kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    this.calls.push(`kill ${id} ${signal}`);
    const sb = this.sandboxes.get(id);
    if (!sb || sb.exit) throw new HangarError('not_found', `no running sandbox ${id}`);
    if (this.diesOn.has(signal)) this.exit(id, { signal });
  }
  async pause(id: string): Promise<void> {
    this.calls.push(`pause ${id}`);
    this.sandboxes.get(id)!.state = 'paused';
  }
  async resume(id: string): Promise<void> {
    this.calls.push(`resume ${id}`);
    this.sandboxes.get(id)!.state = 'running';
  }
  async remove(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    if (sb.exit) this.ended.set(id, sb.exit);
    this.sandboxes.delete(id);
    this.calls.push(`remove ${id}`);
  }
  async inspect(id: string): Promise<SandboxInfo | undefined> {
    const sb = this.sandboxes.get(id);
    return sb && { id, state: sb.state, ...(sb.exit ? { exit: sb.exit } : {}) };
  }
  async list(): Promise<SandboxInfo[]> {
    return [...this.sandboxes.entries()].map(([id, sb]) => ({ id, state: sb.state, ...(sb.exit ? { exit: sb.exit } : {}) }));
  }
  async stats(): Promise<{ rssBytes: number; cpuTimeMs: number }> {
    return { rssBytes: 0, cpuTimeMs: 0 };
  }
  async listening(id: string): Promise<boolean> {
    const started = this.sandboxes.get(id)?.startedMs;
    return started !== undefined && this.clock.now().getTime() >= started + this.listensAfterMs;
  }
}

export function fakeNetwork(): NetworkDriver & { attached: Set<string> } {
  const attached = new Set<string>();
  return {
    attached,
    async attach(id) {
      attached.add(id);
      return { id, netnsPath: `/run/netns/${id}`, ip: '10.77.0.2', prefixLength: 16, gateway: '10.77.0.1', mac: '02:00:00:00:00:02', resolvConf: '/dev/null', hosts: '/dev/null' };
    },
    async detach(id) {
      attached.delete(id);
    },
    list: async () => [...attached],
    recover: async () => undefined,
    counters: async () => ({ rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 }),
    setName: () => undefined,
    removeName: () => undefined,
  };
}

const images: ImageStore = {
  resolve: async (ref) => ({ ref, digest: 'sha256:' + '0'.repeat(64), rootfs: '/nonexistent', sizeBytes: 1, config: { entrypoint: ['/app'], cmd: [], env: [], workingDir: '/', user: '' } }),
  list: async () => [],
};

const logs: LogStore = {
  pathFor: (id) => `/nonexistent/${id}.log`,
  read: async () => ({ data: Buffer.alloc(0), available: { start: 0, end: 0 }, range: { start: 0, end: 0 } }),
  remove: async () => undefined,
};

/** A Lifecycle over the fakes, owned by node `node-a`. */
/** `store`: a real store instead of the in-memory one (rules that live in the store, such as ephemeral groups). */
export function fakeLifecycle<S extends Store = MemoryStore>(o: { stopGraceMs?: number; store?: S } = {}) {
  const clock = new FakeClock();
  const store = o.store ?? new MemoryStore();
  const runtime = new FakeRuntime(clock);
  const network = fakeNetwork();
  const lifecycle = new Lifecycle({ store, runtimes: new DriverRegistry([runtime], runtime.name), network, images, logs, clock, logger: silentLogger, locks: new KeyedMutex(), nodeId: 'node-a', stopGraceMs: o.stopGraceMs ?? 10_000 });
  let n = 0;
  /** Stores a stopped instance as create would. */
  const add = async (patch: Partial<Instance> = {}): Promise<Instance> => {
    n++;
    const inst: Instance = {
      uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, name: `i${n}`, owner: 'u1', node: 'node-a', createdAt: clock.now().toISOString(), state: 'stopped',
      image: 'app:latest', imageDigest: 'sha256:' + '0'.repeat(64), memoryMb: 64, vcpus: 1, restartPolicy: 'never', features: [], tags: [], hostname: `i${n}`,
      deleteLock: false, startCount: 0, restartCount: 0, uptimeMs: 0, ...patch,
    };
    await store.insertInstance(inst);
    return inst;
  };
  const get = async (uuid: string): Promise<Instance> => (await store.getInstance(uuid))!;
  /** Stores an instance and starts it, holding its lock as the service does. */
  const running = async (patch: Partial<Instance> = {}): Promise<Instance> => {
    const inst = await add(patch);
    return lifecycle.locked(inst.uuid, () => lifecycle.start(inst.uuid));
  };
  const stop = (uuid: string, opts: { force?: boolean; drainTimeoutMs?: number } = {}): Promise<Instance> =>
    lifecycle.locked(uuid, () => lifecycle.stop(uuid, { force: opts.force ?? false, drainTimeoutMs: opts.drainTimeoutMs ?? 0 }));
  /** The signals sent so far, as `kill <uuid> <signal>`. */
  const kills = (): string[] => runtime.calls.filter((c) => c.startsWith('kill'));
  return { clock, store, runtime, network, lifecycle, add, get, running, stop, kills };
}
