/**
 * Issue 8 point 6 on a real node: every instance's sandbox maps root to its
 * own host uid range; it sees its root owned by that range through a private
 * writable overlay of the shared image rootfs (an idmapped lower: issue 9
 * point 5), which itself stays owned by range 0; apps serve; a deleted
 * instance's range is reused.
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

test('two sandboxes have distinct uid ranges, each owns its own private root over the shared rootfs; a freed range is reused', async () => {
  const a = await run('range-a');
  const b = await run('range-b');
  assert.notEqual(a.base, b.base, 'each sandbox has its own range');
  assert.ok(Math.abs(a.base - b.base) >= SANDBOX_ID_COUNT, 'the ranges do not overlap');
  for (const p of ['', '/bin', '/etc']) {
    const sa = statSync(`/proc/${a.pid}/root${p}`);
    const sb = statSync(`/proc/${b.pid}/root${p}`);
    assert.notEqual(sa.dev, sb.dev, `${p || '/'}: each sandbox has its own root filesystem`);
    assert.equal(sa.uid, a.base, `${p || '/'} is owned by a's root`);
    assert.equal(sb.uid, b.base, `${p || '/'} is owned by b's root`);
  }
  const hostUid = (pid: number): number => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  assert.equal(hostUid(a.pid), a.base, "the app's root is its range's first id on the host");
  assert.equal(hostUid(b.pid), b.base);

  const del = await shared.n.api('DELETE', '/v1/instances', [{ name: 'range-a' }]);
  assert.equal(del.items[0]!['status'], 'success');
  const c = await run('range-c');
  assert.equal(c.base, a.base, 'the deleted instance released its range');
});
