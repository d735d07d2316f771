import Database from 'better-sqlite3';

/**
 * Bytes each user pushed to the node's registry, for the registry quota: a
 * table beside the instances in state.db (same file, its own connection).
 * Counted as the bytes arrive, so an upload that fails half-way still counts
 * what it sent: the quota bounds what a user made the node write.
 */
export class RegistryUsage {
  private readonly db: Database.Database;
  private readonly get: Database.Statement<[string], { bytes: number }>;
  private readonly add: Database.Statement<[string, number]>;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 5000');
    // Charged once per body chunk: without NORMAL every chunk's commit is an fsync (a 200 MiB push made thousands).
    // WAL + NORMAL survives a killed node, as the main store does.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS registry_usage (user_uuid TEXT PRIMARY KEY, bytes INTEGER NOT NULL)');
    this.get = this.db.prepare('SELECT bytes FROM registry_usage WHERE user_uuid = ?');
    this.add = this.db.prepare('INSERT INTO registry_usage (user_uuid, bytes) VALUES (?, ?) ON CONFLICT(user_uuid) DO UPDATE SET bytes = bytes + excluded.bytes');
  }

  used(userUuid: string): number {
    return this.get.get(userUuid)?.bytes ?? 0;
  }

  /** Adds `bytes` to the user's count if `admit(used)` does not throw; check and add are one transaction. */
  charge(userUuid: string, bytes: number, admit: (used: number) => void): void {
    this.db.transaction(() => {
      admit(this.used(userUuid));
      this.add.run(userUuid, bytes);
    })();
  }

  close(): void {
    this.db.close();
  }
}
