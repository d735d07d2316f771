import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exec } from '../../../src/lib/exec.js';
import { useChildNode } from '../../helpers/child-node.js';
import { apiClient, eventually, httpGet, HELLO_ARCHIVE, REPO } from '../../helpers/node.js';

const { config, start, kill: killNode } = useChildNode();

test('kill -9 of the node: records intact, running sandboxes adopted, exits while down recorded, orphans removed', async () => {
  let node = await start();
  await exec(process.execPath, [`${REPO}/bin/hangar`, 'image', 'import', HELLO_ARCHIVE, '--ref', 'hello:latest'], {
    env: { ...process.env, UKC_METRO: node.url, UKC_TOKEN: node.token },
  });
  const api = apiClient(node.url, node.token);

  const keep = await api('POST', '/v1/instances', { name: 'keeper', image: 'hello:latest', timeout_s: 10, tags: ['k'] });
  assert.equal(keep.status, 200, JSON.stringify(keep.json));
  const stopper = await api('POST', '/v1/instances', { name: 'stopper', image: 'hello:latest', timeout_s: 10 });
  const idle = await api('POST', '/v1/instances', { name: 'idle', image: 'hello:latest', autostart: false, memory_mb: 64 });
  assert.equal(idle.status, 200);
  const ip = String(keep.items[0]!['private_ip']);
  const before = (await api('GET', '/v1/instances')).items;
  const pidBefore = (await import('node:fs')).readFileSync; // keep import warm

  await killNode('SIGKILL');
  // While the node is down: the keeper keeps serving; the stopper's app is killed.
  assert.equal((await httpGet(ip, 8080)).status, 200, 'sandboxes outlive the node process');
  const runcRoot = `${config.home}/run/runc`;
  await exec('runc', ['--root', runcRoot, 'kill', String(stopper.items[0]!['uuid']), 'KILL']);

  node = await start();
  const api2 = apiClient(node.url, node.token);
  const afterList = (await api2('GET', '/v1/instances')).items;
  assert.deepEqual(afterList.map((i) => i['uuid']).sort(), before.map((i) => i['uuid']).sort(), 'every record is there');
  const byName = new Map(afterList.map((i) => [i['name'], i]));
  assert.equal(byName.get('keeper')!['state'], 'running');
  assert.deepEqual(byName.get('keeper')!['tags'], ['k']);
  assert.equal(byName.get('idle')!['memory_mb'], 64);
  assert.equal(byName.get('idle')!['state'], 'stopped');
  const stopped = await eventually(async () => {
    const i = (await api2('GET', '/v1/instances?name=stopper')).items[0]!;
    return i['state'] === 'stopped' ? i : undefined;
  });
  assert.equal(stopped['stop_reason'], 1, 'killed by a signal while the node was down');
  assert.equal((await httpGet(ip, 8080)).status, 200);

  // The adopted sandbox is still managed: stop it and see the exit recorded.
  await api2('PUT', '/v1/instances/stop', [{ name: 'keeper' }]);
  const w = await api2('GET', '/v1/instances/wait?name=keeper&state=stopped&timeout_s=15');
  assert.equal(w.items[0]!['state'], 'stopped');
  assert.equal((await api2('GET', '/v1/instances?name=keeper')).items[0]!['stop_reason'], 15);

  // An orphan: a sandbox whose record vanished while the node was down is removed at start.
  await api2('PUT', '/v1/instances/start', [{ name: 'keeper', timeout_s: 10 }]);
  const keeperUuid = String(byName.get('keeper')!['uuid']);
  await killNode('SIGKILL');
  await exec('sqlite3', [`${config.home}/state.db`, `DELETE FROM instances WHERE uuid = '${keeperUuid}'`]);
  node = await start();
  const runc = await exec('runc', ['--root', runcRoot, 'list', '-q'], { allowFailure: true });
  assert.ok(!runc.stdout.includes(keeperUuid), 'orphan sandbox removed');
  const netns = await exec('ip', ['netns', 'list']);
  assert.ok(!netns.stdout.includes(`${config.network.netnsPrefix}-${keeperUuid.slice(0, 12)}`), 'orphan netns removed');
  await assert.rejects(httpGet(ip, 8080, '/', 500));
  void pidBefore;
});
