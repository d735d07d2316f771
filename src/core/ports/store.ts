import type { Instance } from '../instance.js';
import type { ServiceGroup } from '../services/group.js';

/**
 * Persistence port. The embedded default is SQLite (store/sqlite); a
 * PostgreSQL one can follow for multi-node, which is why every method is
 * async and nothing in core relies on a call being atomic with the next one:
 * what must be atomic runs in a unit of work. Once a returned promise
 * resolves, the change is durable.
 */

export interface User {
  uuid: string;
  name: string;
  admin: boolean;
  createdAt: string;
}

export interface ListOptions {
  owner: string;
  /** 0 = no limit. */
  count: number;
  /** Exclusive cursor: the uuid of the last item of the previous page. */
  after?: string;
  order: 'asc' | 'desc';
  /** Only instances carrying every one of these tags. */
  tags?: string[];
}

/** What live instances hold, summed by the store (admission's cost must not grow with the instances that exist). */
export interface LiveUsage {
  liveInstances: number;
  liveMemoryMb: number;
  liveVcpus: number;
}

export interface OwnerUsage extends LiveUsage {
  /** Every instance of the owner, live or not. */
  instances: number;
}

export interface InstanceRepository {
  insertInstance(inst: Instance): Promise<void>;
  /** Replaces the whole record; rejects with not_found if it is gone. */
  updateInstance(inst: Instance): Promise<void>;
  /** Also deletes the instance's group when it is ephemeral and this was its last instance. */
  deleteInstance(uuid: string): Promise<void>;
  getInstance(uuid: string): Promise<Instance | undefined>;
  getInstanceByName(name: string): Promise<Instance | undefined>;
  listInstances(opts: ListOptions): Promise<Instance[]>;
  /** Every instance of every user and node (image references). */
  allInstances(): Promise<Instance[]>;
  /** The instances the node `node` owns (reconcile, restarts). */
  nodeInstances(node: string): Promise<Instance[]>;
  /** Sums over `owner`'s instances on every node. */
  ownerUsage(owner: string): Promise<OwnerUsage>;
  /**
   * The distinct image references `owner`'s instances were created from whose text contains `containing`
   * (a superset of those naming a repository of that name; the caller matches exactly). Costs what that
   * owner's instances cost, not what every instance does.
   */
  ownerImageRefs(owner: string, containing: string): Promise<string[]>;
  /** The same for the references of their image ROMs. */
  ownerRomImageRefs(owner: string, containing: string): Promise<string[]>;
  /** Sums over the live instances node `node` owns. */
  nodeUsage(node: string): Promise<LiveUsage>;
  /** Gives records written before instances had an owning node to `node`; returns how many. */
  adoptUnowned(node: string): Promise<number>;
}

export interface UserRepository {
  createUser(user: User, tokenHash: string): Promise<void>;
  userByTokenHash(tokenHash: string): Promise<User | undefined>;
  getUser(uuid: string): Promise<User | undefined>;
  getUserByName(name: string): Promise<User | undefined>;
  listUsers(): Promise<User[]>;
}

export interface GroupListOptions {
  owner: string;
  /** 0 = no limit. */
  count: number;
  /** Exclusive cursor: the uuid of the last group of the previous page. */
  after?: string;
  order: 'asc' | 'desc';
}

/** An instance as a group lists it. */
export interface GroupMember {
  uuid: string;
  name: string;
}

export interface ServiceGroupRepository {
  /** Rejects with already_exists when the name or one of the domains is taken. */
  insertServiceGroup(group: ServiceGroup): Promise<void>;
  /** Replaces the whole record, domains included; rejects with not_found if it is gone. */
  updateServiceGroup(group: ServiceGroup): Promise<void>;
  deleteServiceGroup(uuid: string): Promise<void>;
  getServiceGroup(uuid: string): Promise<ServiceGroup | undefined>;
  getServiceGroupByName(name: string): Promise<ServiceGroup | undefined>;
  listServiceGroups(opts: GroupListOptions): Promise<ServiceGroup[]>;
  /** Every user's groups: what the ingress routes by. */
  allServiceGroups(): Promise<ServiceGroup[]>;
  /** Of `fqdns`, those a group other than `exceptGroup` holds (any user's). */
  takenDomains(fqdns: string[], exceptGroup?: string): Promise<string[]>;
  /** The instances in the group, oldest first. */
  groupMembers(uuid: string): Promise<GroupMember[]>;
}

/** What a unit of work sees: the same repositories, inside one transaction. */
export interface UnitOfWork extends InstanceRepository, UserRepository, ServiceGroupRepository {}

export interface Transactional {
  /**
   * Runs fn in one transaction: committed when its promise resolves, rolled
   * back when it rejects. Inside fn use only `tx` (the store itself waits for
   * the unit to end, so calling it there would deadlock).
   */
  unitOfWork<T>(fn: (tx: UnitOfWork) => Promise<T>): Promise<T>;
}

export interface InstanceStore extends InstanceRepository, Transactional {}

export interface UserStore extends UserRepository, Transactional {}

export interface ServiceGroupStore extends ServiceGroupRepository, Transactional {}

export interface Store extends InstanceStore, UserStore, ServiceGroupStore {
  close(): void;
}
