import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { Instance } from '../../../src/core/instance.js';
import { usageOf } from '../../../src/core/instances/admission.js';
import { NODE_USAGE_SQL, OWNER_COUNT_SQL, OWNER_LIVE_SQL } from '../../../src/store/instance-usage.js';
import { SqliteStore } from '../../../src/store/sqlite.js';

const STATES: Instance['state'][] = ['stopped', 'starting', 'running', 'draining', 'stopping', 'standby', 'stopped'];

function inst(i: number): Instance {
  return {
    uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, name: `i${i}`, owner: i % 3 === 0 ? 'bob' : 'alice', node: i % 4 === 0 ? 'n2' : 'n1',
    createdAt: '2026-01-01T00:00:00Z', state: STATES[i % STATES.length]!, image: 'x', imageDigest: 'sha256:0', memoryMb: 64 * (1 + (i % 5)), vcpus: 1 + (i % 2),
    restartPolicy: 'never', features: [], tags: [], hostname: `i${i}`, deleteLock: false, startCount: 0, restartCount: 0, uptimeMs: 0,
  } as Instance;
}

test('usage sums in SQL equal the sums over the records, per owner and per node', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-usage-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  try {
    const all = Array.from({ length: 60 }, (_, i) => inst(i + 1));
    for (const i of all) await store.insertInstance(i);
    for (const owner of ['alice', 'bob', 'nobody']) assert.deepEqual(await store.ownerUsage(owner), usageOf(all.filter((i) => i.owner === owner)), owner);
    for (const node of ['n1', 'n2', 'n3']) {
      const { liveInstances, liveMemoryMb, liveVcpus } = usageOf(all.filter((i) => i.node === node));
      assert.deepEqual(await store.nodeUsage(node), { liveInstances, liveMemoryMb, liveVcpus }, node);
    }
    // A state change moves an instance in or out of the sums.
    const r = all.find((i) => i.state === 'running' && i.node === 'n1')!;
    const before = await store.nodeUsage('n1');
    await store.updateInstance({ ...r, state: 'stopped' });
    assert.equal((await store.nodeUsage('n1')).liveMemoryMb, before.liveMemoryMb - r.memoryMb);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the sums read indexes, never every instance (their cost does not grow with stored records)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-usage-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  const db = new Database(join(dir, 'state.db'));
  try {
    const plan = (sql: string): string => db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('x').map((r) => String((r as { detail: string }).detail)).join('; ');
    assert.match(plan(NODE_USAGE_SQL), /USING INDEX instances_live_by_node/);
    assert.match(plan(OWNER_LIVE_SQL), /USING INDEX instances_live_by_owner/);
    assert.match(plan(OWNER_COUNT_SQL), /USING (COVERING )?INDEX instances_(owner|live_by_owner)/);
    for (const sql of [NODE_USAGE_SQL, OWNER_LIVE_SQL, OWNER_COUNT_SQL]) assert.doesNotMatch(plan(sql), /SCAN instances(?! USING)/, sql);
  } finally {
    db.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
