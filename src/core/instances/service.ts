import { HangarError, invalid } from '../../lib/errors.js';
import { newUuid, randomName } from '../../lib/ids.js';
import { isLive, type Instance, type InstanceState } from '../instance.js';
import type { ListOptions, InstanceStore, User } from '../ports/store.js';
import type { ImageStore } from '../ports/images.js';
import type { LogChunk, LogStore } from '../ports/logs.js';
import type { NetworkDriver } from '../ports/network.js';
import type { Clock } from '../ports/clock.js';
import { checkCreate, replicaNames, type CreateInstanceInput, type InstanceLimits } from './input.js';
import type { Lifecycle } from './lifecycle.js';
import { applyUpdate, type UpdateOp } from './update.js';
import { usageOf, type Admission, type Usage } from './admission.js';
import { allocateIdRanges } from './id-ranges.js';
import type { RomStore } from '../ports/roms.js';
import { checkRoms, type RomInput } from './rom-input.js';
import { attachRoms, type AttachedRoms } from './rom-attach.js';
import { assertRomsChangeable, deleteRoms, droppedDigests } from './roms.js';
import type { PreparedGroup, ServiceGroupService } from '../services/service.js';

/** A reference to an instance as the API gives it: exactly one of uuid or name. */
export type InstanceRef = { uuid: string; name?: undefined } | { name: string; uuid?: undefined };

export interface InstanceMetrics {
  uuid: string;
  name: string;
  rssBytes: number;
  cpuTimeMs: number;
  bootTimeUs: number;
  netTimeUs: number;
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** A PATCH of `roms`: `set`/`add` take ROMs, `del` takes names (none = all). */
export type RomsUpdate = { op: 'set' | 'add'; roms: RomInput[] } | { op: 'del'; names?: string[] };

export interface StateChange {
  instance: Instance;
  previousState: InstanceState;
}

export interface InstanceServiceDeps {
  store: InstanceStore;
  images: ImageStore;
  network: NetworkDriver;
  logs: LogStore;
  clock: Clock;
  limits: InstanceLimits;
  lifecycle: Lifecycle;
  /** Per-user quotas and node capacity; without it only `limits` apply. */
  admission?: Admission;
  /** Where ROM bytes live; without it a request with ROMs is refused. */
  roms?: RomStore;
  /** Service groups; without it a request naming one is refused. */
  groups?: ServiceGroupService;
}

/**
 * What users can do with instances. Every call is on behalf of a user, who
 * sees only their own instances (another user's is reported as not found).
 */
export class InstanceService {
  constructor(private readonly d: InstanceServiceDeps) {}

  async find(user: User, ref: InstanceRef): Promise<Instance> {
    const inst = ref.uuid !== undefined ? await this.d.store.getInstance(ref.uuid) : await this.d.store.getInstanceByName(ref.name);
    if (!inst || inst.owner !== user.uuid) {
      throw new HangarError('not_found', ref.uuid !== undefined ? `No instance with UUID '${ref.uuid}'` : `No instance with name '${ref.name}'`);
    }
    return inst;
  }

  list(user: User, opts: Omit<ListOptions, 'owner'>): Promise<Instance[]> {
    return this.d.store.listInstances({ ...opts, owner: user.uuid });
  }

  /**
   * Creates one instance (plus replicas). Nothing is stored until every check
   * passed; if autostart fails, what was made is removed again.
   */
  async create(user: User, input: CreateInstanceInput): Promise<Instance[]> {
    const req = checkCreate(input, this.d.limits);
    // Checked before any pull: a bad inline group is a 400 with nothing made.
    const group = input.serviceGroup === undefined ? undefined : this.groupService().prepare(user, input.serviceGroup);
    const image = await this.d.images.resolve(req.image, { ...req.imageSource, user: { uuid: user.uuid, admin: user.admin } }).catch((e: unknown) => {
      if (e instanceof HangarError && (e.kind === 'not_found' || e.kind === 'invalid_argument')) throw invalid('image', e.message);
      throw e;
    });
    try {
      const names = replicaNames(req.name ?? randomName(), req.replicas);
      // Every replica gets the same ROMs: their bytes are prepared (pulled, packed) once, before the records.
      const attached = req.roms.length > 0 ? await attachRoms(this.romStore(), user, req.roms) : undefined;
      try {
        return await this.insertAndStart(user, req, names, image.digest, attached, group);
      } finally {
        await attached?.release();
      }
    } finally {
      // The records name the image now (or there are none): its hold can end.
      image.settle?.();
    }
  }

  private romStore(): RomStore {
    if (!this.d.roms) throw new HangarError('failed_precondition', 'this node does not support ROMs');
    return this.d.roms;
  }

  private groupService(): ServiceGroupService {
    if (!this.d.groups) throw new HangarError('failed_precondition', 'this node does not support service groups');
    return this.d.groups;
  }

  private async insertAndStart(user: User, req: ReturnType<typeof checkCreate>, names: string[], imageDigest: string, attached: AttachedRoms | undefined, group: PreparedGroup | undefined): Promise<Instance[]> {
    const now = this.d.clock.now().toISOString();
    const made: Instance[] = names.map((name) => ({
      uuid: newUuid(),
      name,
      owner: user.uuid,
      node: this.d.lifecycle.nodeId,
      createdAt: now,
      state: 'stopped',
      image: req.image,
      imageDigest,
      ...(req.args ? { args: req.args } : {}),
      ...(req.env ? { env: req.env } : {}),
      memoryMb: req.memoryMb,
      vcpus: req.vcpus,
      restartPolicy: req.restartPolicy,
      features: req.features,
      tags: req.tags,
      hostname: names.length === 1 && req.hostname ? req.hostname : name,
      deleteLock: false,
      startCount: 0,
      restartCount: 0,
      uptimeMs: 0,
      ...(attached ? { roms: attached.roms.map((r) => ({ ...r })) } : {}),
    }));
    // Quota, names and inserts in one unit: concurrent creates must not both pass the checks.
    await this.d.store.unitOfWork(async (tx) => {
      const owned = (await tx.listInstances({ owner: user.uuid, count: 0, order: 'asc' })).length;
      if (owned + names.length > this.d.limits.maxInstancesPerUser) {
        throw new HangarError('resource_exhausted', `instance quota of ${this.d.limits.maxInstancesPerUser} reached`);
      }
      await this.d.admission?.admitCreate(tx, user.uuid, made.length, req.autostart === false ? [] : made);
      for (const inst of made) {
        if (await tx.getInstanceByName(inst.name)) throw new HangarError('already_exists', `name: an instance named '${inst.name}' already exists`, { field: 'name' });
      }
      const ranges = allocateIdRanges(await tx.nodeInstances(this.d.lifecycle.nodeId), made.length);
      made.forEach((inst, i) => (inst.idRange = ranges[i]!));
      // In the same unit: an ephemeral group exists exactly when its instances do.
      if (group) {
        const g = await this.groupService().attach(tx, user, group);
        for (const inst of made) inst.serviceGroup = g.uuid;
      }
      for (const inst of made) await tx.insertInstance(inst);
    });
    if (req.autostart === false) return made;
    const L = this.d.lifecycle;
    const started = await Promise.allSettled(made.map((i) => L.locked(i.uuid, () => L.start(i.uuid))));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(made.map((i) => L.locked(i.uuid, async () => {
        const cur = await this.d.store.getInstance(i.uuid);
        if (cur) await L.destroy(cur);
      })));
      throw failed.reason;
    }
    return started.map((r, i) => (r.status === 'fulfilled' ? r.value : made[i]!));
  }

  /**
   * Blocks until every instance is `running` (or fails), up to timeoutS
   * (< 0: no limit). Without a timeout (undefined or 0) it returns them as they are.
   */
  async waitRunning(user: User, instances: Instance[], timeoutS: number | undefined): Promise<Instance[]> {
    if (timeoutS === undefined || timeoutS === 0) return instances;
    return Promise.all(instances.map((i) => this.wait(user, { uuid: i.uuid }, ['running'], timeoutS < 0 ? -1 : timeoutS * 1000)));
  }

  /**
   * Runs `fn` on the instance under its lock, re-reading it once the lock is
   * held (another operation may have changed it meanwhile), and reports the
   * state it had before.
   */
  private async changeState(user: User, ref: InstanceRef, fn: (cur: Instance) => Promise<Instance>): Promise<StateChange> {
    const inst = await this.find(user, ref);
    return this.d.lifecycle.locked(inst.uuid, async () => {
      const cur = await this.find(user, { uuid: inst.uuid });
      return { instance: await fn(cur), previousState: cur.state };
    });
  }

  start(user: User, ref: InstanceRef): Promise<StateChange> {
    return this.changeState(user, ref, (cur) => {
      if (cur.state === 'template' || cur.state === 'checkpoint') throw new HangarError('failed_precondition', `a ${cur.state} cannot be started`);
      return this.d.lifecycle.start(cur.uuid);
    });
  }

  stop(user: User, ref: InstanceRef, opts: { force: boolean; drainTimeoutMs: number }): Promise<StateChange> {
    return this.changeState(user, ref, (cur) => this.d.lifecycle.stop(cur.uuid, opts));
  }

  suspend(user: User, ref: InstanceRef): Promise<StateChange> {
    return this.changeState(user, ref, (cur) => {
      if (cur.state !== 'running' && cur.state !== 'standby') throw new HangarError('failed_precondition', `cannot suspend an instance in state '${cur.state}'`);
      return this.d.lifecycle.suspend(cur.uuid);
    });
  }

  remove(user: User, ref: InstanceRef): Promise<StateChange> {
    return this.changeState(user, ref, async (cur) => {
      if (cur.deleteLock) throw new HangarError('failed_precondition', `instance '${cur.name}' has delete_lock set`);
      await this.d.lifecycle.destroy(cur);
      return { ...cur, state: 'deleted' };
    });
  }

  async update(user: User, ref: InstanceRef, op: UpdateOp): Promise<Instance> {
    const inst = await this.find(user, ref);
    const L = this.d.lifecycle;
    return L.locked(inst.uuid, async () => {
      const cur = await this.find(user, { uuid: inst.uuid });
      const next = applyUpdate(cur, op, this.d.limits);
      if (op.prop === 'image') {
        const img = await this.d.images.resolve(next.image, { user: { uuid: user.uuid, admin: user.admin } }).catch((e: unknown) => {
          throw invalid('value', e instanceof Error ? e.message : String(e));
        });
        next.imageDigest = img.digest;
        try {
          await this.d.store.updateInstance(next);
        } finally {
          img.settle?.();
        }
        return next;
      }
      await this.d.store.updateInstance(next);
      return next;
    });
  }

  /**
   * Changes the ROMs of a stopped instance; they reach the sandbox at its
   * next start. New ROMs are prepared before the record changes; bytes only
   * the old ROMs used are removed after.
   */
  async updateRoms(user: User, ref: InstanceRef, u: RomsUpdate): Promise<Instance> {
    const inst = await this.find(user, ref);
    return this.d.lifecycle.locked(inst.uuid, async () => {
      const cur = await this.find(user, { uuid: inst.uuid });
      assertRomsChangeable(cur);
      const before = cur.roms ?? [];
      let after: Instance['roms'];
      let attached: AttachedRoms | undefined;
      if (u.op === 'del') {
        after = deleteRoms(before, u.names);
      } else {
        const kept = u.op === 'set' ? [] : before;
        const checked = checkRoms(u.roms, kept, 'value');
        attached = checked.length > 0 ? await attachRoms(this.romStore(), user, checked, kept) : undefined;
        after = [...kept, ...(attached?.roms ?? [])];
      }
      const next: Instance = { ...cur };
      if (after.length > 0) next.roms = after;
      else delete next.roms;
      try {
        await this.d.store.updateInstance(next);
      } finally {
        await attached?.release();
      }
      const dropped = droppedDigests(before, after);
      if (dropped.length > 0) await this.d.roms?.forget(dropped);
      return next;
    });
  }

  /**
   * Waits until the instance is in one of `states`. Resolves with the instance;
   * throws timeout, or not_found if it was deleted meanwhile.
   */
  async wait(user: User, ref: InstanceRef, states: InstanceState[], timeoutMs: number): Promise<Instance> {
    const inst = await this.find(user, ref);
    const r = await this.d.lifecycle.waiters.waitFor(inst.uuid, inst, (s) => states.includes(s), timeoutMs);
    if (r === 'timeout') throw new HangarError('timeout', `instance '${inst.name}' did not reach state ${states.join('|')} in time (it is ${(await this.d.store.getInstance(inst.uuid))?.state ?? 'deleted'})`);
    if (r === undefined) throw new HangarError('not_found', `instance '${inst.name}' was deleted`);
    return r;
  }

  async logs(user: User, ref: InstanceRef, offset: number, limit: number): Promise<{ instance: Instance; chunk: LogChunk }> {
    const inst = await this.find(user, ref);
    return { instance: inst, chunk: await this.d.logs.read(inst.uuid, offset, limit) };
  }

  async metrics(user: User, ref: InstanceRef): Promise<InstanceMetrics> {
    const inst = await this.find(user, ref);
    const stats = isLive(inst.state) ? await this.d.lifecycle.driverFor(inst).stats(inst.uuid).catch(() => ({ rssBytes: 0, cpuTimeMs: 0 })) : { rssBytes: 0, cpuTimeMs: 0 };
    const net = inst.network ? await this.d.network.counters(inst.uuid).catch(() => undefined) : undefined;
    return {
      uuid: inst.uuid,
      name: inst.name,
      rssBytes: stats.rssBytes,
      cpuTimeMs: stats.cpuTimeMs,
      bootTimeUs: inst.bootTimeUs ?? 0,
      netTimeUs: inst.netTimeUs ?? 0,
      rxBytes: net?.rxBytes ?? 0,
      rxPackets: net?.rxPackets ?? 0,
      txBytes: net?.txBytes ?? 0,
      txPackets: net?.txPackets ?? 0,
    };
  }

  uptimeMs(inst: Instance): number {
    return this.d.lifecycle.uptimeMs(inst);
  }

  /** Used by quotas: what a user has now. */
  async usage(user: User): Promise<Usage> {
    return usageOf(await this.d.store.listInstances({ owner: user.uuid, count: 0, order: 'asc' }));
  }
}
