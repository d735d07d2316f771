import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { Instance } from '../../../src/core/instance.js';
import { lookupNames, parseReference } from '../../../src/oci/reference.js';
import { OWNER_IMAGE_REFS_SQL, OWNER_ROM_IMAGE_REFS_SQL } from '../../../src/store/image-refs.js';
import { SqliteStore } from '../../../src/store/sqlite.js';

function inst(i: number, owner: string, image: string, romImages: (string | undefined)[] = []): Instance {
  return {
    uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, name: `i${i}`, owner, node: 'n1', createdAt: '2026-01-01T00:00:00Z', state: 'running', image, imageDigest: 'sha256:0',
    memoryMb: 64, vcpus: 1, restartPolicy: 'never', features: [], tags: [], hostname: `i${i}`, deleteLock: false, startCount: 0, restartCount: 0, uptimeMs: 0,
    roms: romImages.map((image, n) => ({ name: `r${n}`, digest: 'sha256:1', format: 'erofs', sizeBytes: 4096, ...(image ? { image } : {}) })),
  } as Instance;
}

test("per-owner image references: distinct, only that owner's, only those containing the text, ROM images apart", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-refs-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  try {
    await store.insertInstance(inst(1, 'bob', 'localhost:5000/alice/app:1', ['alice/rom:1', undefined]));
    await store.insertInstance(inst(2, 'bob', 'localhost:5000/alice/app:1'));
    await store.insertInstance(inst(3, 'bob', 'nginx', ['other/rom']));
    await store.insertInstance(inst(4, 'carol', 'alice/app:2', ['alice/rom:2']));
    assert.deepEqual(await store.ownerImageRefs('bob', 'alice/app'), ['localhost:5000/alice/app:1']);
    assert.deepEqual(await store.ownerImageRefs('bob', 'nginx'), ['nginx']);
    assert.deepEqual(await store.ownerImageRefs('bob', 'alice/rom'), []);
    assert.deepEqual(await store.ownerRomImageRefs('bob', 'alice/rom'), ['alice/rom:1']);
    assert.deepEqual(await store.ownerRomImageRefs('bob', 'rom'), ['alice/rom:1', 'other/rom']);
    assert.deepEqual(await store.ownerImageRefs('carol', 'alice/app'), ['alice/app:2']);
    assert.deepEqual(await store.ownerImageRefs('dave', 'alice/app'), []);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the queries read the owner index, never every instance', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-refs-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  const db = new Database(join(dir, 'state.db'));
  try {
    const plan = (sql: string): string => db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('x', 'y').map((r) => String((r as { detail: string }).detail)).join('; ');
    for (const sql of [OWNER_IMAGE_REFS_SQL, OWNER_ROM_IMAGE_REFS_SQL]) {
      assert.match(plan(sql), /SEARCH instances USING (COVERING )?INDEX instances_(owner|live_by_owner)/, sql);
      assert.doesNotMatch(plan(sql), /SCAN instances(?! USING)/, sql);
    }
  } finally {
    db.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every repository name a reference is looked up under is a substring of the reference (what the text filter relies on)', () => {
  const refs = ['nginx', 'nginx:1', 'docker.io/library/nginx:1', 'index.docker.io/library/nginx', 'registry-1.docker.io/foo/bar@sha256:' + 'a'.repeat(64), 'localhost:5000/alice/app:1', 'Host.Example:8080/a/b', 'REG/x/y', '127.0.0.1:5000/library/hello:v1', 'docker.io/library/a/b'];
  for (const ref of refs) for (const name of lookupNames(parseReference(ref))) assert.ok(ref.includes(name), `${name} in ${ref}`);
});
