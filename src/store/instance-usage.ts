/**
 * Admission's sums over the instances table, in SQL. Instances are JSON
 * documents; partial indexes over the live ones (by node, by owner) keep each
 * sum proportional to what is live (bounded by the node's capacity and the
 * user's quota), not to every record stored: admission runs on every start.
 */
import type Database from 'better-sqlite3';
import { LIVE_STATES } from '../core/instance.js';
import type { LiveUsage, OwnerUsage } from '../core/ports/store.js';

/** The predicate, written identically in the indexes and the queries (SQLite uses a partial index only then). */
const LIVE = `json_extract(doc, '$.state') IN (${LIVE_STATES.map((s) => `'${s}'`).join(', ')})`;

export const INSTANCE_USAGE_SCHEMA = `
CREATE INDEX IF NOT EXISTS instances_live_by_node ON instances(json_extract(doc, '$.node')) WHERE ${LIVE};
CREATE INDEX IF NOT EXISTS instances_live_by_owner ON instances(owner) WHERE ${LIVE};
`;

const SUMS = `COUNT(*) AS n, COALESCE(SUM(json_extract(doc, '$.memoryMb')), 0) AS mem, COALESCE(SUM(json_extract(doc, '$.vcpus')), 0) AS cpu`;

export const NODE_USAGE_SQL = `SELECT ${SUMS} FROM instances WHERE json_extract(doc, '$.node') = ? AND ${LIVE}`;
export const OWNER_LIVE_SQL = `SELECT ${SUMS} FROM instances WHERE owner = ? AND ${LIVE}`;
export const OWNER_COUNT_SQL = 'SELECT COUNT(*) AS n FROM instances WHERE owner = ?';

type Sums = { n: number; mem: number; cpu: number };

export class InstanceUsageQueries {
  private readonly node: Database.Statement<[string], Sums>;
  private readonly ownerLive: Database.Statement<[string], Sums>;
  private readonly ownerCount: Database.Statement<[string], { n: number }>;

  constructor(db: Database.Database) {
    db.exec(INSTANCE_USAGE_SCHEMA);
    this.node = db.prepare(NODE_USAGE_SQL);
    this.ownerLive = db.prepare(OWNER_LIVE_SQL);
    this.ownerCount = db.prepare(OWNER_COUNT_SQL);
  }

  nodeUsage(node: string): LiveUsage {
    return live(this.node.get(node)!);
  }

  ownerUsage(owner: string): OwnerUsage {
    return { instances: this.ownerCount.get(owner)!.n, ...live(this.ownerLive.get(owner)!) };
  }
}

const live = (r: Sums): LiveUsage => ({ liveInstances: r.n, liveMemoryMb: r.mem, liveVcpus: r.cpu });
