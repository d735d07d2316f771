import type Database from 'better-sqlite3';
import type { ServiceGroup } from '../core/services/group.js';
import type { GroupListOptions, GroupMember } from '../core/ports/store.js';
import { HangarError } from '../lib/errors.js';
import { ownerPage } from './owner-page.js';

/**
 * Service groups in SQLite: each group a JSON document (as instances are),
 * and one row per domain so that the fqdn's primary key makes a domain
 * belong to one group across every user, even against concurrent writers.
 * `CREATE … IF NOT EXISTS` is the migration of databases made before groups.
 */
export const SERVICE_GROUPS_SCHEMA = `
CREATE TABLE IF NOT EXISTS service_groups (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS service_groups_owner ON service_groups(owner, seq);
CREATE TABLE IF NOT EXISTS service_domains (
  fqdn TEXT PRIMARY KEY,
  group_uuid TEXT NOT NULL REFERENCES service_groups(uuid) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS service_domains_group ON service_domains(group_uuid);
CREATE INDEX IF NOT EXISTS instances_service_group ON instances(json_extract(doc, '$.serviceGroup'));
`;

const toGroup = (r: { doc: string }): ServiceGroup => JSON.parse(r.doc) as ServiceGroup;

export class ServiceGroupQueries {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    db.exec(SERVICE_GROUPS_SCHEMA);
    this.stmts = {
      insert: db.prepare('INSERT INTO service_groups (uuid, name, owner, doc) VALUES (?, ?, ?, ?)'),
      update: db.prepare('UPDATE service_groups SET name = ?, doc = ? WHERE uuid = ?'),
      delete: db.prepare('DELETE FROM service_groups WHERE uuid = ?'),
      get: db.prepare('SELECT doc FROM service_groups WHERE uuid = ?'),
      getByName: db.prepare('SELECT doc FROM service_groups WHERE name = ?'),
      all: db.prepare('SELECT doc FROM service_groups ORDER BY seq'),
      insertDomain: db.prepare('INSERT INTO service_domains (fqdn, group_uuid) VALUES (?, ?)'),
      deleteDomains: db.prepare('DELETE FROM service_domains WHERE group_uuid = ?'),
      domainHolder: db.prepare('SELECT group_uuid FROM service_domains WHERE fqdn = ?'),
      members: db.prepare("SELECT uuid, name FROM instances WHERE json_extract(doc, '$.serviceGroup') = ? ORDER BY seq"),
      groupOf: db.prepare("SELECT json_extract(doc, '$.serviceGroup') AS g FROM instances WHERE uuid = ?"),
      memberCount: db.prepare("SELECT COUNT(*) AS n FROM instances WHERE json_extract(doc, '$.serviceGroup') = ?"),
    };
  }

  private insertDomains(g: ServiceGroup): void {
    for (const [i, d] of g.domains.entries()) {
      try {
        this.stmts.insertDomain.run(d.fqdn, g.uuid);
      } catch (e) {
        if (e instanceof Error && /UNIQUE|PRIMARY KEY/.test(e.message)) {
          // Which user holds it is nobody else's business: the message names only the domain.
          throw new HangarError('already_exists', `domains[${i}].name: the domain '${d.fqdn}' is taken`, { field: `domains[${i}].name` });
        }
        throw e;
      }
    }
  }

  insertServiceGroup(g: ServiceGroup): void {
    this.db.transaction(() => {
      try {
        this.stmts.insert.run(g.uuid, g.name, g.owner, JSON.stringify(g));
      } catch (e) {
        if (e instanceof Error && /UNIQUE/.test(e.message)) {
          throw new HangarError('already_exists', `name: a service group named '${g.name}' already exists`, { field: 'name' });
        }
        throw e;
      }
      this.insertDomains(g);
    })();
  }

  updateServiceGroup(g: ServiceGroup): void {
    this.db.transaction(() => {
      const r = this.stmts.update.run(g.name, JSON.stringify(g), g.uuid);
      if (r.changes === 0) throw new HangarError('not_found', `service group ${g.uuid} is gone`);
      this.stmts.deleteDomains.run(g.uuid);
      this.insertDomains(g);
    })();
  }

  deleteServiceGroup(uuid: string): void {
    this.stmts.delete.run(uuid);
  }

  getServiceGroup(uuid: string): ServiceGroup | undefined {
    const r = this.stmts.get.get(uuid) as { doc: string } | undefined;
    return r && toGroup(r);
  }

  getServiceGroupByName(name: string): ServiceGroup | undefined {
    const r = this.stmts.getByName.get(name) as { doc: string } | undefined;
    return r && toGroup(r);
  }

  listServiceGroups(o: GroupListOptions): ServiceGroup[] {
    return ownerPage(this.db, 'service_groups', o).map(toGroup);
  }

  allServiceGroups(): ServiceGroup[] {
    return (this.stmts.all.all() as { doc: string }[]).map(toGroup);
  }

  takenDomains(fqdns: string[], exceptGroup?: string): string[] {
    return fqdns.filter((f) => {
      const r = this.stmts.domainHolder.get(f) as { group_uuid: string } | undefined;
      return r !== undefined && r.group_uuid !== exceptGroup;
    });
  }

  groupMembers(uuid: string): GroupMember[] {
    return this.stmts.members.all(uuid) as GroupMember[];
  }

  /**
   * Deletes an instance record and, when it was the last instance of an
   * ephemeral group, the group: in one transaction, so every path that
   * deletes an instance (API, delete-on-stop) frees the group's domains.
   */
  deleteInstanceAndEphemeralGroup(instanceUuid: string, deleteInstance: (uuid: string) => void): void {
    this.db.transaction(() => {
      const g = (this.stmts.groupOf.get(instanceUuid) as { g: string | null } | undefined)?.g ?? null;
      deleteInstance(instanceUuid);
      if (g === null) return;
      const group = this.getServiceGroup(g);
      if (!group || group.persistent) return;
      if ((this.stmts.memberCount.get(g) as { n: number }).n === 0) this.stmts.delete.run(g);
    })();
  }
}
