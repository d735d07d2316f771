import type { Instance } from '../instance.js';

/**
 * Persistence port. The default implementation is SQLite (store/sqlite); a
 * PostgreSQL one can follow for multi-node. Every method is synchronous from
 * the caller's view of consistency: once it returns, the change is durable.
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

export interface InstanceStore {
  insertInstance(inst: Instance): void;
  /** Replaces the whole record; throws not_found if it is gone. */
  updateInstance(inst: Instance): void;
  deleteInstance(uuid: string): void;
  getInstance(uuid: string): Instance | undefined;
  getInstanceByName(name: string): Instance | undefined;
  listInstances(opts: ListOptions): Instance[];
  /** Every instance of every user (reconcile at start). */
  allInstances(): Instance[];
  /** Runs fn atomically. */
  transaction<T>(fn: () => T): T;
}

export interface UserStore {
  createUser(user: User, tokenHash: string): void;
  userByTokenHash(tokenHash: string): User | undefined;
  getUser(uuid: string): User | undefined;
  getUserByName(name: string): User | undefined;
  listUsers(): User[];
}

export interface Store extends InstanceStore, UserStore {
  close(): void;
}
