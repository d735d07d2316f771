import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { HangarError } from '../lib/errors.js';
import type { Instance } from '../core/instance.js';
import type { ListOptions, LiveUsage, OwnerUsage, Store, UnitOfWork, User } from '../core/ports/store.js';
import { ImageRefQueries } from './image-refs.js';
import { InstanceUsageQueries } from './instance-usage.js';
import { ownerPage } from './owner-page.js';
import { ServiceGroupQueries } from './service-groups.js';
import type { ServiceGroup } from '../core/services/group.js';
import type { GroupListOptions, GroupMember } from '../core/ports/store.js';
import { Mutex } from '../lib/mutex.js';

/**
 * The default Store: one SQLite file in WAL mode. Instances are kept as JSON
 * documents with the columns we filter and page on pulled out beside them, so
 * adding a field to Instance (such as its owning `node`) needs no migration.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  uuid TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  admin INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  hash TEXT PRIMARY KEY,
  user_uuid TEXT NOT NULL REFERENCES users(uuid) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS instances (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_owner ON instances(owner, seq);
`;

interface UserRow {
  uuid: string;
  name: string;
  admin: number;
  created_at: string;
}

const toUser = (r: UserRow): User => ({ uuid: r.uuid, name: r.name, admin: r.admin === 1, createdAt: r.created_at });
const toInstance = (r: { doc: string }): Instance => JSON.parse(r.doc) as Instance;

/** The repository methods every caller and every unit of work gets, in their async form. */
const METHODS = [
  'insertInstance', 'updateInstance', 'deleteInstance', 'getInstance', 'getInstanceByName', 'listInstances', 'allInstances', 'nodeInstances', 'ownerUsage', 'ownerImageRefs', 'ownerRomImageRefs', 'nodeUsage', 'adoptUnowned',
  'createUser', 'userByTokenHash', 'getUser', 'getUserByName', 'listUsers',
  'insertServiceGroup', 'updateServiceGroup', 'deleteServiceGroup', 'getServiceGroup', 'getServiceGroupByName', 'listServiceGroups', 'allServiceGroups', 'takenDomains', 'groupMembers',
] as const satisfies readonly (keyof UnitOfWork)[];
// Fails to compile when a repository method is added to the port but not to METHODS.
const allMethods: [Exclude<keyof UnitOfWork, (typeof METHODS)[number]>] extends [never] ? true : never = true;
void allMethods;

type Sync<T> = { [K in keyof T]: T[K] extends (...a: infer A) => Promise<infer R> ? (...a: A) => R : never };

/** The statements, synchronous as better-sqlite3 is; SqliteStore decides when they may run. */
class Rows implements Sync<UnitOfWork> {
  private readonly stmts;
  private readonly usage: InstanceUsageQueries;
  private readonly imageRefs: ImageRefQueries;
  private readonly groups: ServiceGroupQueries;

  constructor(private readonly db: Database.Database) {
    this.usage = new InstanceUsageQueries(db);
    this.imageRefs = new ImageRefQueries(db);
    this.groups = new ServiceGroupQueries(db);
    this.stmts = {
      insertUser: db.prepare('INSERT INTO users (uuid, name, admin, created_at) VALUES (?, ?, ?, ?)'),
      insertToken: db.prepare('INSERT INTO tokens (hash, user_uuid) VALUES (?, ?)'),
      userByToken: db.prepare('SELECT u.* FROM tokens t JOIN users u ON u.uuid = t.user_uuid WHERE t.hash = ?'),
      getUser: db.prepare('SELECT * FROM users WHERE uuid = ?'),
      getUserByName: db.prepare('SELECT * FROM users WHERE name = ?'),
      listUsers: db.prepare('SELECT * FROM users ORDER BY created_at'),
      insertInstance: db.prepare('INSERT INTO instances (uuid, name, owner, doc) VALUES (?, ?, ?, ?)'),
      updateInstance: db.prepare('UPDATE instances SET name = ?, doc = ? WHERE uuid = ?'),
      deleteInstance: db.prepare('DELETE FROM instances WHERE uuid = ?'),
      getInstance: db.prepare('SELECT doc FROM instances WHERE uuid = ?'),
      getInstanceByName: db.prepare('SELECT doc FROM instances WHERE name = ?'),
      all: db.prepare('SELECT doc FROM instances ORDER BY seq'),
      ofNode: db.prepare("SELECT doc FROM instances WHERE json_extract(doc, '$.node') = ? ORDER BY seq"),
      adopt: db.prepare("UPDATE instances SET doc = json_set(doc, '$.node', ?) WHERE json_extract(doc, '$.node') IS NULL"),
    };
  }

  createUser(user: User, tokenHash: string): void {
    this.db.transaction(() => {
      this.stmts.insertUser.run(user.uuid, user.name, user.admin ? 1 : 0, user.createdAt);
      this.stmts.insertToken.run(tokenHash, user.uuid);
    })();
  }

  userByTokenHash(tokenHash: string): User | undefined {
    const r = this.stmts.userByToken.get(tokenHash) as UserRow | undefined;
    return r && toUser(r);
  }

  getUser(uuid: string): User | undefined {
    const r = this.stmts.getUser.get(uuid) as UserRow | undefined;
    return r && toUser(r);
  }

  getUserByName(name: string): User | undefined {
    const r = this.stmts.getUserByName.get(name) as UserRow | undefined;
    return r && toUser(r);
  }

  listUsers(): User[] {
    return (this.stmts.listUsers.all() as UserRow[]).map(toUser);
  }

  insertInstance(inst: Instance): void {
    try {
      this.stmts.insertInstance.run(inst.uuid, inst.name, inst.owner, JSON.stringify(inst));
    } catch (e) {
      if (e instanceof Error && /UNIQUE/.test(e.message)) {
        throw new HangarError('already_exists', `name: an instance named '${inst.name}' already exists`, { field: 'name' });
      }
      throw e;
    }
  }

  updateInstance(inst: Instance): void {
    const r = this.stmts.updateInstance.run(inst.name, JSON.stringify(inst), inst.uuid);
    if (r.changes === 0) throw new HangarError('not_found', `instance ${inst.uuid} is gone`);
  }

  deleteInstance(uuid: string): void {
    this.groups.deleteInstanceAndEphemeralGroup(uuid, (u) => this.stmts.deleteInstance.run(u));
  }

  getInstance(uuid: string): Instance | undefined {
    const r = this.stmts.getInstance.get(uuid) as { doc: string } | undefined;
    return r && toInstance(r);
  }

  getInstanceByName(name: string): Instance | undefined {
    const r = this.stmts.getInstanceByName.get(name) as { doc: string } | undefined;
    return r && toInstance(r);
  }

  listInstances(o: ListOptions): Instance[] {
    const tags = o.tags ?? [];
    const where = tags.map(() => 'EXISTS (SELECT 1 FROM json_each(doc, \'$.tags\') WHERE value = ?)');
    return ownerPage(this.db, 'instances', o, { where, params: tags }).map(toInstance);
  }

  allInstances(): Instance[] {
    return (this.stmts.all.all() as { doc: string }[]).map(toInstance);
  }

  nodeInstances(node: string): Instance[] {
    return (this.stmts.ofNode.all(node) as { doc: string }[]).map(toInstance);
  }

  ownerUsage(owner: string): OwnerUsage {
    return this.usage.ownerUsage(owner);
  }

  ownerImageRefs(owner: string, containing: string): string[] {
    return this.imageRefs.ownerImageRefs(owner, containing);
  }

  ownerRomImageRefs(owner: string, containing: string): string[] {
    return this.imageRefs.ownerRomImageRefs(owner, containing);
  }

  nodeUsage(node: string): LiveUsage {
    return this.usage.nodeUsage(node);
  }

  insertServiceGroup(g: ServiceGroup): void {
    this.groups.insertServiceGroup(g);
  }

  updateServiceGroup(g: ServiceGroup): void {
    this.groups.updateServiceGroup(g);
  }

  deleteServiceGroup(uuid: string): void {
    this.groups.deleteServiceGroup(uuid);
  }

  getServiceGroup(uuid: string): ServiceGroup | undefined {
    return this.groups.getServiceGroup(uuid);
  }

  getServiceGroupByName(name: string): ServiceGroup | undefined {
    return this.groups.getServiceGroupByName(name);
  }

  listServiceGroups(o: GroupListOptions): ServiceGroup[] {
    return this.groups.listServiceGroups(o);
  }

  allServiceGroups(): ServiceGroup[] {
    return this.groups.allServiceGroups();
  }

  takenDomains(fqdns: string[], exceptGroup?: string): string[] {
    return this.groups.takenDomains(fqdns, exceptGroup);
  }

  groupMembers(uuid: string): GroupMember[] {
    return this.groups.groupMembers(uuid);
  }

  adoptUnowned(node: string): number {
    return this.stmts.adopt.run(node).changes;
  }
}

/** The async repository over `rows`, each call made through `run`. */
function asyncRepo(rows: Rows, run: <T>(op: () => T) => Promise<T>): UnitOfWork {
  const repo: Record<string, unknown> = {};
  for (const m of METHODS) {
    const op = rows[m] as (...a: unknown[]) => unknown;
    repo[m] = (...args: unknown[]) => run(() => op.apply(rows, args));
  }
  return repo as unknown as UnitOfWork;
}

// The async methods are assigned in the constructor from METHODS.
export interface SqliteStore extends UnitOfWork {}

/**
 * better-sqlite3 has one connection, so a unit of work (BEGIN IMMEDIATE …
 * COMMIT around an awaited fn) would otherwise take in any statement another
 * caller runs while fn awaits. Units therefore run one at a time, and a call
 * made while one is open waits for it to end; outside units a call runs at
 * once, which keeps the create path as fast as the synchronous store was.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly units = new Mutex();
  private inUnit = false;
  private readonly tx: UnitOfWork;

  constructor(path: string) {
    // Instances' env (passwords) live here: owner-only. SQLite gives the -wal and
    // -shm files it creates the database file's mode, so fix that before opening.
    if (path !== ':memory:') {
      closeSync(openSync(path, 'a', 0o600));
      for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    }
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // WAL + NORMAL survives a killed process (only an OS crash could lose the last commit).
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    const rows = new Rows(this.db);
    Object.assign(this, asyncRepo(rows, (op) => this.run(op)));
    this.tx = asyncRepo(rows, now);
  }

  private run<T>(op: () => T): Promise<T> {
    if (this.inUnit) return this.units.run(async () => op());
    return now(op);
  }

  unitOfWork<T>(fn: (tx: UnitOfWork) => Promise<T>): Promise<T> {
    return this.units.run(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      this.inUnit = true;
      try {
        const result = await fn(this.tx);
        this.db.exec('COMMIT');
        return result;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      } finally {
        this.inUnit = false;
      }
    });
  }

  close(): void {
    this.db.close();
  }
}

function now<T>(op: () => T): Promise<T> {
  try {
    return Promise.resolve(op());
  } catch (e) {
    return Promise.reject(e);
  }
}
