/**
 * Private networks per user (issue 8, point 3), with real sandboxes: from
 * inside an instance's netns, the instances of another user can be neither
 * reached nor resolved; the same user's can.
 *
 * Network rule: traffic only between namespaces this test's node created.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exec } from '../../../src/lib/exec.js';
import { useTestNode } from '../../helpers/node.js';

const t = useTestNode();

test('two users: instances cannot connect to or resolve each other; one user\'s instances still can', async () => {
  const { api, config } = t.n;
  const made = await api('POST', '/v1/users', { name: 'bob-net' });
  assert.equal(made.status, 200, JSON.stringify(made.json));
  const bobToken = String(made.items[0]!['token']);
  const create = async (name: string, token?: string): Promise<{ uuid: string; ip: string; netns: string }> => {
    const r = await api('POST', '/v1/instances', { name, image: 'hello:latest' }, token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const inst = r.items[0]!;
    assert.equal(inst['state'], 'running', JSON.stringify(inst));
    const uuid = String(inst['uuid']);
    const rec = JSON.parse(readFileSync(join(config.home, 'net', 'attachments', `${uuid}.json`), 'utf8')) as { netnsName: string };
    return { uuid, ip: String(inst['private_ip']), netns: rec.netnsName };
  };
  const a1 = await create('alice-one');
  const a2 = await create('alice-two');
  const b1 = await create('bob-one', bobToken);
  try {
  const gateway = config.network.subnet.replace(/\d+\/\d+$/, '1');

  const get = async (from: { netns: string }, ip: string): Promise<boolean> => {
    // busybox wget's own -T crashes on this host: coreutils timeout bounds it instead.
    const r = await exec('ip', ['netns', 'exec', from.netns, 'timeout', '-s', 'KILL', '4', 'busybox', 'wget', '-q', '-O', '-', `http://${ip}:8080/`], { allowFailure: true, timeoutMs: 10_000 });
    return r.code === 0;
  };
  const resolve = async (from: { netns: string }, name: string): Promise<string | undefined> => {
    const r = await exec('timeout', ['6', 'ip', 'netns', 'exec', from.netns, 'busybox', 'nslookup', `${name}.internal`, gateway], { allowFailure: true, timeoutMs: 10_000 });
    return /Name:[^\n]*\nAddress:\s+(\d+\.\d+\.\d+\.\d+)/.exec(r.stdout)?.[1];
  };

  // Same user: reachable and resolvable.
  assert.equal(await get(a1, a2.ip), true, 'alice-one reaches alice-two');
  assert.equal(await resolve(a1, 'alice-two'), a2.ip);
  assert.equal(await resolve(b1, 'bob-one'), b1.ip, 'bob resolves his own name');
  // Across users: neither, in either direction.
  assert.equal(await get(a1, b1.ip), false, 'alice cannot reach bob');
  assert.equal(await get(b1, a1.ip), false, 'bob cannot reach alice');
  assert.equal(await resolve(a1, 'bob-one'), undefined, 'alice cannot resolve bob');
  assert.equal(await resolve(b1, 'alice-one'), undefined, 'bob cannot resolve alice');
  // The first packets right after a create (the per-user rules are written off the create path): a new instance of
  // bob's reaches none of alice's, and a new one of alice's resolves and reaches hers at once.
  const b2 = await create('bob-two', bobToken);
  try {
    assert.equal(await get(b2, a1.ip), false, 'a new instance of bob cannot reach alice, from its first packet');
    assert.equal(await resolve(b2, 'alice-one'), undefined, 'a new instance of bob cannot resolve alice');
  } finally {
    await api('DELETE', '/v1/instances', [{ uuid: b2.uuid }], bobToken);
  }
  const a3 = await create('alice-three');
  assert.equal(await resolve(a3, 'alice-one'), a1.ip, 'a new instance of alice resolves hers at once');
  assert.equal(await get(a3, a1.ip), true, 'a new instance of alice reaches hers at once');
  assert.equal(await get(a1, a3.ip), true, 'and is reached by them');
  assert.equal(await get(b1, a3.ip), false, 'but not by bob');
  // After bob's instance is gone its address reaches nothing; alice's network is unchanged.
  const del = await api('DELETE', '/v1/instances', [{ uuid: b1.uuid }], bobToken);
  assert.equal(del.status, 200, JSON.stringify(del.json));
  assert.equal(await get(a2, a1.ip), true, 'alice-two reaches alice-one');
  } finally {
    // The node's teardown deletes the admin's instances; bob's are his to delete.
    await api('DELETE', '/v1/instances', [{ uuid: b1.uuid }], bobToken);
  }
});
