import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually, useTestNode } from '../../helpers/node.js';

const shared = useTestNode();
const { getOne } = shared;


test('an app that exits: stopped, exit_code and stop_reason 3, restart_policy never leaves it stopped', async () => {
  await shared.n.api('POST', '/v1/instances', { name: 'quitter', image: 'hello:latest', args: ['/hello', '--exit', '3'] });
  const inst = await eventually(async () => {
    const i = await getOne('quitter');
    return i['state'] === 'stopped' && i['exit_code'] !== undefined ? i : undefined;
  });
  assert.equal(inst['exit_code'], 3);
  assert.equal(inst['stop_reason'], 3);
  assert.equal(inst['restart_count'], 0);
});

test('on-failure restarts a failing app with back-off (immediate, then 5 s)', async () => {
  await shared.n.api('POST', '/v1/instances', { name: 'flaky', image: 'hello:latest', args: ['/hello', '--exit', '1'], restart_policy: 'on-failure' });
  const inst = await eventually(async () => {
    const i = await getOne('flaky');
    return Number(i['restart_count']) >= 2 ? i : undefined;
  }, 15_000);
  assert.ok(Number(inst['start_count']) >= 3);
  const restart = inst['restart'] as { attempt: number; next_at?: string } | undefined;
  assert.ok(restart && restart.attempt >= 1, JSON.stringify(restart));
  // A user stop ends the restarts.
  await shared.n.api('PUT', '/v1/instances/stop', [{ name: 'flaky' }]);
  const count = Number((await getOne('flaky'))['start_count']);
  await new Promise((r) => setTimeout(r, 6000));
  assert.equal((await getOne('flaky'))['start_count'], count, 'no restart after a user stop');
});

test('on-failure does not restart a clean exit; always does', async () => {
  await shared.n.api('POST', '/v1/instances', { name: 'clean', image: 'hello:latest', args: ['/hello', '--exit', '0'], restart_policy: 'on-failure' });
  await shared.n.api('POST', '/v1/instances', { name: 'again', image: 'hello:latest', args: ['/hello', '--exit', '0'], restart_policy: 'always' });
  const again = await eventually(async () => {
    const i = await getOne('again');
    return Number(i['restart_count']) >= 1 ? i : undefined;
  });
  assert.ok(Number(again['start_count']) >= 2);
  const clean = await getOne('clean');
  assert.equal(clean['state'], 'stopped');
  assert.equal(clean['restart_count'], 0);
  assert.equal(clean['exit_code'], 0);
});

test('a crash (app killed by a signal) is stop_reason 1 with stop_code', async () => {
  const r = await shared.n.api('POST', '/v1/instances', { name: 'crashy', image: 'hello:latest', args: ['/bin/busybox', 'sh', '-c', 'kill -SEGV $$'], timeout_s: 5 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const inst = await eventually(async () => {
    const i = await getOne('crashy');
    return i['state'] === 'stopped' && i['stop_reason'] !== undefined ? i : undefined;
  });
  assert.equal(inst['stop_reason'], 1);
  assert.equal(inst['stop_code'], 11);
});

test('exceeding memory_mb kills the app and shows as an out-of-memory stop (stop_reason 5)', async () => {
  await shared.n.api('POST', '/v1/instances', { name: 'hungry', image: 'hello:latest', memory_mb: 32, args: ['/hello', '--alloc-mb', '256'] });
  const inst = await eventually(async () => {
    const i = await getOne('hungry');
    return i['state'] === 'stopped' && i['stop_reason'] !== undefined ? i : undefined;
  }, 15_000);
  assert.equal(inst['stop_reason'], 5, JSON.stringify(inst));
});

test('delete-on-stop removes the instance when its app exits', async () => {
  await shared.n.api('POST', '/v1/instances', { name: 'oneshot', image: 'hello:latest', args: ['/hello', '--exit', '0'], features: ['delete-on-stop'] });
  await eventually(async () => ((await getOne('oneshot'))['error'] === 8 ? true : undefined));
});

test('a start that fails (no such binary) leaves no instance, sandbox or netns', async () => {
  const before = await shared.n.node.network.list();
  const r = await shared.n.api('POST', '/v1/instances', { name: 'broken', image: 'hello:latest', args: ['/no/such/binary'] });
  assert.ok(r.status >= 400, JSON.stringify(r.json));
  assert.match(r.json.message ?? '', /no\/such\/binary|no such file|not found/i);
  assert.equal((await getOne('broken'))['error'], 8);
  assert.deepEqual((await shared.n.node.network.list()).sort(), before.sort());
  const sandboxes = await shared.n.node.runtime.list();
  assert.ok(!sandboxes.some((s) => s.state !== 'stopped' && !before.includes(s.id)));
});

test('a killed shim (the app healthy) is a platform stop (stop_reason 7), not an app exit', async () => {
  const r = await shared.n.api('POST', '/v1/instances', { name: 'orphaned', image: 'hello:latest', timeout_s: 10 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const uuid = String(r.items[0]!['uuid']);
  const { readFileSync } = await import('node:fs');
  const shimPid = Number(readFileSync(`${shared.n.config.home}/run/sandboxes/${uuid}/shim.pid`, 'utf8').trim());
  assert.ok(shimPid > 0);
  process.kill(shimPid, 'SIGKILL');
  const inst = await eventually(async () => {
    const i = await getOne('orphaned');
    return i['state'] === 'stopped' && i['stop_reason'] !== undefined ? i : undefined;
  });
  assert.equal(inst['stop_reason'], 7, JSON.stringify(inst));
});
