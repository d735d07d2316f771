/**
 * Issue 8 point 6 on a real node: every instance's sandbox maps root to its
 * own host uid range, none of them the owner of the shared image rootfs; apps
 * still read that rootfs and serve; a deleted instance's range is reused.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { SANDBOX_ID_COUNT } from '../../../src/lib/idmap.js';
import { eventually, httpGet, useTestNode } from '../../helpers/node.js';

const shared = useTestNode();

async function run(name: string): Promise<{ uuid: string; pid: number; base: number }> {
  const r = await shared.n.api('POST', '/v1/instances', { name, image: 'hello:latest', autostart: true });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const inst = r.items[0]!;
  const res = await eventually(async () => httpGet(String(inst['private_ip']), 8080).catch(() => undefined));
  assert.equal(res.status, 200, `${name} serves from the shared rootfs`);
  const uuid = String(inst['uuid']);
  const pid = (await shared.n.node.runtime.inspect(uuid))?.pid;
  assert.ok(pid, 'the sandbox has a pid');
  const uidMap = readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number);
  const gidMap = readFileSync(`/proc/${pid}/gid_map`, 'utf8').trim().split(/\s+/).map(Number);
  assert.deepEqual(gidMap, uidMap, 'gids follow uids');
  assert.equal(uidMap[0], 0);
  assert.equal(uidMap[2], SANDBOX_ID_COUNT);
  return { uuid, pid, base: uidMap[1]! };
}

test('two sandboxes have distinct uid ranges, neither owns the shared rootfs; a freed range is reused', async () => {
  const a = await run('range-a');
  const b = await run('range-b');
  assert.notEqual(a.base, b.base, 'each sandbox has its own range');
  assert.ok(Math.abs(a.base - b.base) >= SANDBOX_ID_COUNT, 'the ranges do not overlap');
  for (const p of ['', '/bin', '/etc']) {
    const st = statSync(`/proc/${a.pid}/root${p}`);
    assert.equal(statSync(`/proc/${b.pid}/root${p}`).ino, st.ino, `${p || '/'} is the same shared tree`);
    for (const s of [a, b]) {
      assert.ok(st.uid < s.base || st.uid >= s.base + SANDBOX_ID_COUNT, `${p || '/'} (owner ${st.uid}) is not owned by a sandbox's range (${s.base})`);
    }
  }
  const hostUid = (pid: number): number => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  assert.equal(hostUid(a.pid), a.base, "the app's root is its range's first id on the host");
  assert.equal(hostUid(b.pid), b.base);

  const del = await shared.n.api('DELETE', '/v1/instances', [{ name: 'range-a' }]);
  assert.equal(del.items[0]!['status'], 'success');
  const c = await run('range-c');
  assert.equal(c.base, a.base, 'the deleted instance released its range');
});
