import { HangarError } from '../../lib/errors.js';
import { isLive, type Instance } from '../instance.js';
import type { OwnerUsage, UnitOfWork, User } from '../ports/store.js';

/** What one non-admin user may hold at once (the `hard` of /v1/users/quotas). */
export interface UserQuotas {
  instances: number;
  liveMemoryMb: number;
  liveVcpus: number;
  /** Bytes of blobs the user may push to the node's registry. */
  registryBytes: number;
}

/** What this node can run at once: its memory and cores times the overcommit ratios. */
export interface NodeCapacity {
  memoryMb: number;
  vcpus: number;
}

export type Usage = OwnerUsage;

type Ask = Pick<Instance, 'memoryMb' | 'vcpus'>;

export function usageOf(instances: Instance[]): Usage {
  const live = instances.filter((i) => isLive(i.state));
  return {
    instances: instances.length,
    liveInstances: live.length,
    liveMemoryMb: live.reduce((a, i) => a + i.memoryMb, 0),
    liveVcpus: live.reduce((a, i) => a + i.vcpus, 0),
  };
}

const quota = (what: string, used: number, asked: number, hard: number, unit = ''): HangarError =>
  new HangarError('resource_exhausted', `quota exceeded: ${what} (using ${used}${unit} of ${hard}${unit}, asked for ${asked}${unit} more)`);

/**
 * Admission: whether instances may be created or go live. Per-user quotas
 * (admins have none) give a 429 naming the quota; the node's capacity, for
 * everyone, gives a 503 naming the resource. Checks read the store inside the
 * caller's unit of work, which also writes the change it admits: two
 * concurrent starts or creates cannot both fit into the last free room.
 */
export class Admission {
  constructor(
    readonly quotas: UserQuotas,
    readonly capacity: NodeCapacity,
    private readonly nodeId: string,
  ) {}

  /** New instances of `owner` (`live`: the ones that start right away). */
  async admitCreate(tx: UnitOfWork, owner: string, created: number, live: Ask[]): Promise<void> {
    if (await this.limited(tx, owner)) {
      const have = (await tx.ownerUsage(owner)).instances;
      if (have + created > this.quotas.instances) throw quota('instances', have, created, this.quotas.instances);
    }
    await this.admitLive(tx, owner, live);
  }

  /** `adding` (not live yet) going live for `owner`. */
  async admitLive(tx: UnitOfWork, owner: string, adding: Ask[]): Promise<void> {
    if (adding.length === 0) return;
    const mem = adding.reduce((a, i) => a + i.memoryMb, 0);
    const cpu = adding.reduce((a, i) => a + i.vcpus, 0);
    if (await this.limited(tx, owner)) {
      const u = await tx.ownerUsage(owner);
      if (u.liveMemoryMb + mem > this.quotas.liveMemoryMb) throw quota('live_memory_mb', u.liveMemoryMb, mem, this.quotas.liveMemoryMb, ' MB');
      if (u.liveVcpus + cpu > this.quotas.liveVcpus) throw quota('live_vcpus', u.liveVcpus, cpu, this.quotas.liveVcpus);
    }
    // Sums in the store: a start must not read every instance of the node (its cost grew with their number).
    const n = await tx.nodeUsage(this.nodeId);
    if (n.liveMemoryMb + mem > this.capacity.memoryMb) {
      throw new HangarError('unavailable', `node full: memory (${n.liveMemoryMb} of ${this.capacity.memoryMb} MB in use, asked for ${mem} MB)`);
    }
    if (n.liveVcpus + cpu > this.capacity.vcpus) {
      throw new HangarError('unavailable', `node full: vcpus (${n.liveVcpus} of ${this.capacity.vcpus} in use, asked for ${cpu})`);
    }
  }

  /** `user` pushing `adding` more bytes to the node's registry, having pushed `used`. */
  admitRegistryBytes(user: Pick<User, 'admin'>, used: number, adding: number): void {
    if (user.admin) return;
    if (used + adding > this.quotas.registryBytes) throw quota('registry_bytes', used, adding, this.quotas.registryBytes, ' B');
  }

  private async limited(tx: UnitOfWork, owner: string): Promise<boolean> {
    return (await tx.getUser(owner))?.admin !== true;
  }
}
