/**
 * The image references one user's instances name (their image and their ROM
 * images), in SQL, for the access rule: a user may read another user's
 * private repository while an instance of theirs runs an image of it. Read
 * through the owner index, so the cost grows with that user's instances
 * (bounded by their quota), not with every instance on the node.
 *
 * `containing` narrows to references whose text contains it: every reference
 * that names a repository contains the repository's name (a host or
 * `library/` is only ever added around it), so the caller passes the
 * repository and checks the few rows exactly.
 */
import type Database from 'better-sqlite3';

export const OWNER_IMAGE_REFS_SQL = `SELECT DISTINCT json_extract(doc, '$.image') AS ref FROM instances
WHERE owner = ? AND instr(json_extract(doc, '$.image'), ?) > 0`;

export const OWNER_ROM_IMAGE_REFS_SQL = `SELECT DISTINCT json_extract(r.value, '$.image') AS ref FROM instances, json_each(instances.doc, '$.roms') AS r
WHERE instances.owner = ? AND instr(json_extract(r.value, '$.image'), ?) > 0`;

export class ImageRefQueries {
  private readonly images: Database.Statement<[string, string], { ref: string }>;
  private readonly roms: Database.Statement<[string, string], { ref: string }>;

  constructor(db: Database.Database) {
    this.images = db.prepare(OWNER_IMAGE_REFS_SQL);
    this.roms = db.prepare(OWNER_ROM_IMAGE_REFS_SQL);
  }

  ownerImageRefs(owner: string, containing: string): string[] {
    return this.images.all(owner, containing).map((r) => r.ref);
  }

  ownerRomImageRefs(owner: string, containing: string): string[] {
    return this.roms.all(owner, containing).map((r) => r.ref);
  }
}
