/**
 * One page of an owner's rows of a table with `seq`, `owner` and `doc`
 * columns, in `seq` order, after the row with UUID `after` (exclusive).
 */
import type Database from 'better-sqlite3';

export interface OwnerPageOptions {
  owner: string;
  after?: string | undefined;
  order: 'asc' | 'desc';
  /** 0 = all. */
  count: number;
}

export function ownerPage(db: Database.Database, table: 'instances' | 'service_groups', o: OwnerPageOptions, extra: { where: string[]; params: string[] } = { where: [], params: [] }): { doc: string }[] {
  const where = ['owner = ?'];
  const params: (string | number)[] = [o.owner];
  if (o.after !== undefined) {
    const row = db.prepare(`SELECT seq FROM ${table} WHERE uuid = ? AND owner = ?`).get(o.after, o.owner) as { seq: number } | undefined;
    // An unknown cursor yields an empty page rather than restarting from the top.
    if (!row) return [];
    where.push(o.order === 'asc' ? 'seq > ?' : 'seq < ?');
    params.push(row.seq);
  }
  where.push(...extra.where);
  params.push(...extra.params);
  let sql = `SELECT doc FROM ${table} WHERE ${where.join(' AND ')} ORDER BY seq ${o.order === 'asc' ? 'ASC' : 'DESC'}`;
  if (o.count > 0) {
    sql += ' LIMIT ?';
    params.push(o.count);
  }
  return db.prepare(sql).all(...params) as { doc: string }[];
}
