/**
 * The registry's metadata, in one small SQLite file (WAL) beside the blobs:
 * which blobs are stored and in which repositories they are linked, the
 * manifests of each repository with what they reference, tags, and upload
 * sessions, and the pins that keep images (POST /v1/images). Blob and manifest bodies are files in the content store; a row
 * is what makes one visible, and rows change only inside transactions that
 * also move the files, so the two never disagree for a reader.
 */
import Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS blobs (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  -- 1 once a manifest referenced it: from then on only reachability keeps it (fresh unreferenced blobs are an upload in progress)
  referenced INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS blob_links (
  repo TEXT NOT NULL,
  digest TEXT NOT NULL,
  PRIMARY KEY (repo, digest)
);
CREATE TABLE IF NOT EXISTS manifests (
  repo TEXT NOT NULL,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  subject TEXT,
  artifact_type TEXT,
  annotations TEXT,
  created_ms INTEGER NOT NULL,
  referenced INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS manifests_by_digest ON manifests(digest);
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests(repo, subject) WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS manifest_refs (
  manifest TEXT NOT NULL,
  child TEXT NOT NULL,
  PRIMARY KEY (manifest, child)
);
CREATE TABLE IF NOT EXISTS tags (
  repo TEXT NOT NULL,
  tag TEXT NOT NULL,
  digest TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  pushed_by TEXT,
  PRIMARY KEY (repo, tag)
);
CREATE INDEX IF NOT EXISTS tags_by_digest ON tags(digest);
-- a pin as its owner (the image service) wrote it: the registry only keeps it
CREATE TABLE IF NOT EXISTS pins (
  uuid TEXT PRIMARY KEY,
  doc TEXT NOT NULL
);
-- who owns a repository: recorded when a /v2/ push first creates it (the image service's access rule reads it);
-- a repository without a row that holds manifests predates owners (imports, pulls, upgrades) and is the admin's
CREATE TABLE IF NOT EXISTS repo_owners (
  repo TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  public INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
-- the registry quota sums a user's bytes over the repositories they own
CREATE INDEX IF NOT EXISTS repo_owners_by_owner ON repo_owners(owner);
CREATE INDEX IF NOT EXISTS manifest_refs_by_child ON manifest_refs(child);
CREATE TABLE IF NOT EXISTS uploads (
  uuid TEXT PRIMARY KEY,
  repo TEXT NOT NULL,
  offset INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
`;

export interface BlobRow {
  digest: string;
  size: number;
  created_ms: number;
  referenced: number;
}

export interface ManifestRow {
  repo: string;
  digest: string;
  media_type: string;
  size: number;
  subject: string | null;
  artifact_type: string | null;
  annotations: string | null;
  created_ms: number;
  referenced: number;
}

export interface TagRow {
  repo: string;
  tag: string;
  digest: string;
  updated_at: string;
  pushed_by: string | null;
}

export interface UploadRow {
  uuid: string;
  repo: string;
  offset: number;
  created_ms: number;
  updated_ms: number;
}

export function openRegistryDb(path: string) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  db.exec(SCHEMA);
  const s = {
    blob: db.prepare<[string], BlobRow>('SELECT * FROM blobs WHERE digest = ?'),
    allBlobs: db.prepare<[], BlobRow>('SELECT * FROM blobs'),
    insertBlob: db.prepare<[string, number, number]>('INSERT INTO blobs (digest, size, created_ms, referenced) VALUES (?, ?, ?, 0)'),
    /** A second write of a stored blob protects it again like a fresh one (a push is in progress). */
    refreshBlob: db.prepare<[number, string]>('UPDATE blobs SET created_ms = ?, referenced = 0 WHERE digest = ?'),
    markBlobReferenced: db.prepare<[string]>('UPDATE blobs SET referenced = 1 WHERE digest = ?'),
    deleteBlob: db.prepare<[string]>('DELETE FROM blobs WHERE digest = ?'),
    link: db.prepare<[string, string], { repo: string }>('SELECT repo FROM blob_links WHERE repo = ? AND digest = ?'),
    linkedRepos: db.prepare<[string], { repo: string }>('SELECT repo FROM blob_links WHERE digest = ?'),
    insertLink: db.prepare<[string, string]>('INSERT OR IGNORE INTO blob_links (repo, digest) VALUES (?, ?)'),
    deleteLink: db.prepare<[string, string]>('DELETE FROM blob_links WHERE repo = ? AND digest = ?'),
    deleteLinksOf: db.prepare<[string]>('DELETE FROM blob_links WHERE digest = ?'),
    manifest: db.prepare<[string, string], ManifestRow>('SELECT * FROM manifests WHERE repo = ? AND digest = ?'),
    manifestAnyRepo: db.prepare<[string], ManifestRow>('SELECT * FROM manifests WHERE digest = ? LIMIT 1'),
    allManifests: db.prepare<[], ManifestRow>('SELECT * FROM manifests'),
    insertManifest: db.prepare<[string, string, string, number, string | null, string | null, string | null, number, number]>(
      'INSERT OR IGNORE INTO manifests (repo, digest, media_type, size, subject, artifact_type, annotations, created_ms, referenced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    markManifestReferenced: db.prepare<[string, string]>('UPDATE manifests SET referenced = 1 WHERE repo = ? AND digest = ?'),
    deleteManifest: db.prepare<[string, string]>('DELETE FROM manifests WHERE repo = ? AND digest = ?'),
    referrers: db.prepare<[string, string], ManifestRow>('SELECT * FROM manifests WHERE repo = ? AND subject = ? ORDER BY digest'),
    repositories: db.prepare<[], { repo: string }>('SELECT DISTINCT repo FROM manifests ORDER BY repo'),
    repoExists: db.prepare<[string], { repo: string }>('SELECT repo FROM manifests WHERE repo = ? LIMIT 1'),
    insertRef: db.prepare<[string, string]>('INSERT OR IGNORE INTO manifest_refs (manifest, child) VALUES (?, ?)'),
    refsOf: db.prepare<[string], { child: string }>('SELECT child FROM manifest_refs WHERE manifest = ?'),
    deleteRefsOf: db.prepare<[string]>('DELETE FROM manifest_refs WHERE manifest = ?'),
    tag: db.prepare<[string, string], TagRow>('SELECT * FROM tags WHERE repo = ? AND tag = ?'),
    tagsOf: db.prepare<[string], TagRow>('SELECT * FROM tags WHERE repo = ? ORDER BY tag'),
    allTags: db.prepare<[], TagRow>('SELECT * FROM tags'),
    tagsOfDigest: db.prepare<[string], TagRow>('SELECT * FROM tags WHERE digest = ?'),
    upsertTag: db.prepare<[string, string, string, string, string | null]>(
      'INSERT INTO tags (repo, tag, digest, updated_at, pushed_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at, pushed_by = excluded.pushed_by',
    ),
    deleteTag: db.prepare<[string, string]>('DELETE FROM tags WHERE repo = ? AND tag = ?'),
    deleteTagsAt: db.prepare<[string, string]>('DELETE FROM tags WHERE repo = ? AND digest = ?'),
    upload: db.prepare<[string], UploadRow>('SELECT * FROM uploads WHERE uuid = ?'),
    allUploads: db.prepare<[], UploadRow>('SELECT * FROM uploads'),
    countUploads: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM uploads'),
    insertUpload: db.prepare<[string, string, number, number]>('INSERT INTO uploads (uuid, repo, offset, created_ms, updated_ms) VALUES (?, ?, 0, ?, ?)'),
    setUploadOffset: db.prepare<[number, number, string]>('UPDATE uploads SET offset = ?, updated_ms = ? WHERE uuid = ?'),
    deleteUpload: db.prepare<[string]>('DELETE FROM uploads WHERE uuid = ?'),
    repoOwner: db.prepare<[string], { owner: string; public: number }>('SELECT owner, public FROM repo_owners WHERE repo = ?'),
    insertRepoOwner: db.prepare<[string, string, number, number]>('INSERT OR IGNORE INTO repo_owners (repo, owner, public, created_ms) VALUES (?, ?, ?, ?)'),
    /**
     * Each blob linked in the owner's repositories, once, while it is theirs to keep: not yet referenced (a push in
     * progress), or a manifest of theirs or referenced by one. A blob whose manifest they deleted stops counting at
     * once (GC takes it later).
     */
    ownedBlobBytes: db.prepare<[{ owner: string }], { n: number }>(
      `SELECT COALESCE(SUM(b.size), 0) AS n FROM blobs b
       WHERE b.digest IN (SELECT l.digest FROM blob_links l JOIN repo_owners o ON o.repo = l.repo WHERE o.owner = @owner)
         AND (b.referenced = 0
           OR EXISTS (SELECT 1 FROM manifests m JOIN repo_owners o ON o.repo = m.repo WHERE m.digest = b.digest AND o.owner = @owner)
           OR EXISTS (SELECT 1 FROM manifest_refs r JOIN manifests m ON m.digest = r.manifest JOIN repo_owners o ON o.repo = m.repo
                      WHERE r.child = b.digest AND o.owner = @owner))`,
    ),
    ownedUploadBytes: db.prepare<[string], { n: number }>('SELECT COALESCE(SUM(u.offset), 0) AS n FROM uploads u JOIN repo_owners o ON o.repo = u.repo WHERE o.owner = ?'),
    deleteLinksOfRepo: db.prepare<[string]>('DELETE FROM blob_links WHERE repo = ?'),
    allPins: db.prepare<[], { uuid: string; doc: string }>('SELECT uuid, doc FROM pins ORDER BY uuid'),
    upsertPin: db.prepare<[string, string]>('INSERT INTO pins (uuid, doc) VALUES (?, ?) ON CONFLICT (uuid) DO UPDATE SET doc = excluded.doc'),
    deletePin: db.prepare<[string]>('DELETE FROM pins WHERE uuid = ?'),
  };
  return { db, s };
}

export type RegistryDb = ReturnType<typeof openRegistryDb>;
