import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exec } from '../../../src/lib/exec.js';
import { useChildNode } from '../../helpers/child-node.js';
import { apiClient, eventually, HELLO_ARCHIVE, REPO } from '../../helpers/node.js';
import { hostTraces } from './helpers.js';

const { config, start, kill } = useChildNode();
const roms = (): string[] => readdirSync(join(config.home, 'roms', 'sha256')).sort();

test('kill -9 of the node with ROM instances running: adopted with their ROMs; unreferenced ROM files and temp dirs removed at restart', async () => {
  let node = await start();
  await exec(process.execPath, [`${REPO}/bin/hangar`, 'image', 'import', HELLO_ARCHIVE, '--ref', 'hello:latest'], { env: { ...process.env, UKC_METRO: node.url, UKC_TOKEN: node.token } });
  const api = apiClient(node.url, node.token);
  const script = 'for d in /dev/ukp_rom*; do echo "DEV $d"; done; exec busybox sleep 600';
  const mk = (name: string, data: string, at?: string) =>
    api('POST', '/v1/instances', { name, image: 'hello:latest', args: ['/bin/busybox', 'sh', '-c', script], timeout_s: 10, roms: [{ name: 'code', files: [{ path: 'rom.py', data }], ...(at ? { at } : {}) }] });
  assert.equal((await mk('crash-a', 'a')).status, 200);
  const b = await mk('crash-b', 'b', '/rom');
  assert.equal(b.status, 200, JSON.stringify(b.json));
  const before = roms();
  assert.equal(before.length, 2);

  await kill('SIGKILL');
  // Left behind by a node that died mid-pack, and a ROM file nothing references.
  mkdirSync(join(config.home, 'roms', 'tmp', 'inline-999999-abc'), { recursive: true });
  writeFileSync(join(config.home, 'roms', 'sha256', 'f'.repeat(64)), 'stray');

  node = await start();
  const api2 = apiClient(node.url, node.token);
  const list = (await api2('GET', '/v1/instances')).items;
  assert.deepEqual(list.map((i) => [i['name'], i['state'], (i['roms'] as Array<Record<string, unknown>>).map((r) => r['name'])]).sort(), [
    ['crash-a', 'running', ['code']],
    ['crash-b', 'running', ['code']],
  ]);
  assert.deepEqual(roms(), before, 'referenced ROM files kept, the stray one removed');
  assert.deepEqual(readdirSync(join(config.home, 'roms', 'tmp')), [], 'temp dirs removed');

  // The adopted instances still get their ROMs at their next start.
  await api2('PUT', '/v1/instances/stop', [{ name: 'crash-a' }]);
  await api2('GET', '/v1/instances/wait?name=crash-a&state=stopped&timeout_s=15');
  await api2('PUT', '/v1/instances/start', [{ name: 'crash-a', timeout_s: 10 }]);
  await eventually(async () => {
    const r = await api2('GET', '/v1/instances/log?name=crash-a');
    const out = Buffer.from(String(r.items[0]?.['output'] ?? ''), 'base64').toString('utf8');
    return out.split('DEV /dev/ukp_rom_code').length === 3 ? true : undefined;
  }, 15_000);
  await api2('DELETE', '/v1/instances', [{ name: 'crash-a' }, { name: 'crash-b' }]);
  assert.deepEqual(roms(), []);
  assert.deepEqual(await hostTraces(config.home), []);
});
