import assert from 'node:assert/strict';
import { test } from 'node:test';
import { existsSync } from 'node:fs';
import { eventually, httpGet, useTestNode } from '../../helpers/node.js';

const shared = useTestNode();
const { getOne } = shared;


test('create with autostart + timeout_s returns a running instance that serves HTTP', async () => {
  const r = await shared.n.api('POST', '/v1/instances', { name: 'web', image: 'hello:latest', autostart: true, timeout_s: 10 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const inst = r.items[0]!;
  assert.equal(inst['state'], 'running');
  assert.equal(inst['start_count'], 1);
  assert.ok(Number(inst['boot_time_us']) > 0);
  const ip = String(inst['private_ip']);
  assert.match(ip, /^10\.\d+\.\d+\.\d+$/);
  const nic = (inst['network_interfaces'] as Array<Record<string, string>>)[0]!;
  assert.equal(nic['private_ip'], ip);
  assert.match(nic['mac']!, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  assert.equal(inst['private_fqdn'], 'web.internal');
  const res = await eventually(async () => httpGet(ip, 8080).catch(() => undefined));
  assert.equal(res.status, 200);
  assert.match(res.body, /Hello from hangar! \(web\)/);
  const withNet = await eventually(async () => {
    const i = await getOne('web');
    return i['net_time_us'] !== undefined ? i : undefined;
  });
  assert.ok(Number(withNet['net_time_us']) >= Number(withNet['boot_time_us']));
});

test('logs: console output, base64, with range/available and negative offsets', async () => {
  const all = await eventually(async () => {
    const r = await shared.n.api('GET', '/v1/instances/log?name=web&offset=0');
    const e = r.items[0]!;
    const text = Buffer.from(String(e['output']), 'base64').toString();
    return text.includes('listening') ? e : undefined;
  });
  const avail = all['available'] as { start: number; end: number };
  assert.equal(avail.start, 0);
  assert.ok(avail.end > 0);
  const tail = (await shared.n.api('GET', '/v1/instances/log?name=web&offset=-5')).items[0]!;
  assert.deepEqual(tail['range'], { start: avail.end - 5, end: avail.end });
  assert.equal(Buffer.from(String(tail['output']), 'base64').length, 5);
  const limited = (await shared.n.api('GET', '/v1/instances/log?name=web&offset=0&limit=3')).items[0]!;
  assert.deepEqual(limited['range'], { start: 0, end: 3 });
});

test('metrics: rss, cpu time, boot/net times, packet counters', async () => {
  const inst = await getOne('web');
  await httpGet(String(inst['private_ip']), 8080);
  const m = (await shared.n.api('GET', '/v1/instances/metrics?name=web')).items[0]!;
  assert.ok(Number(m['rss_bytes']) > 0, 'rss');
  assert.ok(Number(m['boot_time_us']) > 0);
  assert.ok(Number(m['rx_bytes']) > 0 && Number(m['tx_packets']) > 0, 'network counters');
  assert.equal(typeof m['cpu_time_ms'], 'number');
});

test('stop → stopped with stop_reason 15; start again → running, start_count 2', async () => {
  const s = await shared.n.api('PUT', '/v1/instances/stop', [{ name: 'web' }]);
  assert.equal(s.items[0]!['previous_state'], 'running');
  assert.ok(['stopping', 'stopped'].includes(String(s.items[0]!['state'])));
  const w = await shared.n.api('GET', '/v1/instances/wait?name=web&state=stopped&timeout_s=15');
  assert.equal(w.items[0]!['state'], 'stopped', JSON.stringify(w.json));
  const stopped = await getOne('web');
  assert.equal(stopped['stop_reason'], 15);
  assert.ok(Number(stopped['uptime_ms']) > 0);
  const st = await shared.n.api('PUT', '/v1/instances/start', [{ name: 'web', timeout_s: 10 }]);
  assert.equal(st.items[0]!['state'], 'running');
  assert.equal(st.items[0]!['previous_state'], 'stopped');
  const again = await getOne('web');
  assert.equal(again['start_count'], 2);
  const res = await eventually(async () => httpGet(String(again['private_ip']), 8080).catch(() => undefined));
  assert.equal(res.status, 200);
  const noop = await shared.n.api('PUT', '/v1/instances/start', [{ name: 'web' }]);
  assert.equal(noop.items[0]!['previous_state'], 'running', 'start on running is a no-op');
});

test('suspend → standby (frozen, not answering); start wakes it and it serves again', async () => {
  const s = await shared.n.api('PUT', '/v1/instances/suspend', [{ name: 'web' }]);
  assert.equal(s.items[0]!['state'], 'standby');
  const inst = await getOne('web');
  assert.equal(inst['state'], 'standby');
  assert.equal(inst['stop_reason'], 39);
  await assert.rejects(httpGet(String(inst['private_ip']), 8080, '/', 300), 'a frozen instance does not answer');
  const w = await shared.n.api('PUT', `/v1/instances/${String(inst['uuid'])}/start`, { timeout_s: 5 });
  assert.equal(w.items[0]!['previous_state'], 'standby');
  assert.equal(w.items[0]!['state'], 'running');
  const res = await httpGet(String(inst['private_ip']), 8080);
  assert.equal(res.status, 200);
});

test('force stop → stop_reason 28; by-uuid delete removes sandbox, netns and logs', async () => {
  const inst = await getOne('web');
  const uuid = String(inst['uuid']);
  await shared.n.api('PUT', `/v1/instances/${uuid}/stop`, { force: true });
  await shared.n.api('GET', `/v1/instances/${uuid}/wait?state=stopped&timeout_s=10`);
  assert.equal((await getOne('web'))['stop_reason'], 28);
  const d = await shared.n.api('DELETE', `/v1/instances/${uuid}`);
  assert.equal(d.items[0]!['previous_state'], 'stopped');
  assert.equal((await getOne('web'))['error'], 8);
  assert.equal(existsSync(`${shared.n.config.home}/logs/${uuid}.log`), false);
  assert.equal(await shared.n.node.runtime.inspect(uuid), undefined);
  assert.ok(!(await shared.n.node.network.list()).includes(uuid));
});

test('delete of a running instance force-stops it; replicas get their own names and IPs', async () => {
  const r = await shared.n.api('POST', '/v1/instances', { name: 'rep', image: 'hello:latest', replicas: 2, timeout_s: 10 });
  assert.deepEqual(r.items.map((i) => i['name']), ['rep', 'rep-1', 'rep-2']);
  const ips = new Set(r.items.map((i) => i['private_ip']));
  assert.equal(ips.size, 3);
  for (const i of r.items) assert.equal((await httpGet(String(i['private_ip']), 8080)).status, 200);
  const d = await shared.n.api('DELETE', '/v1/instances', r.items.map((i) => ({ uuid: i['uuid'] })));
  assert.deepEqual(d.items.map((i) => i['previous_state']), ['running', 'running', 'running']);
});

test('env and args reach the app; PATCH applies at the next start', async () => {
  const r = await shared.n.api('POST', '/v1/instances', { name: 'envy', image: 'hello:latest', env: { GREETING: 'hi-there' }, timeout_s: 10 });
  const ip = String(r.items[0]!['private_ip']);
  const env = await eventually(async () => httpGet(ip, 8080, '/env').catch(() => undefined));
  assert.match(env.body, /GREETING=hi-there/);
  await shared.n.api('PATCH', '/v1/instances', [{ name: 'envy', prop: 'args', op: 'set', value: ['/hello', '--port', '9090'] }]);
  await shared.n.api('PUT', '/v1/instances/stop', [{ name: 'envy' }]);
  await shared.n.api('GET', '/v1/instances/wait?name=envy&state=stopped&timeout_s=15');
  await shared.n.api('PUT', '/v1/instances/start', [{ name: 'envy', timeout_s: 10 }]);
  const res = await eventually(async () => httpGet(ip, 9090).catch(() => undefined));
  assert.equal(res.status, 200);
  await shared.n.api('DELETE', '/v1/instances', [{ name: 'envy' }]);
});
