import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useTestNode } from '../../helpers/node.js';
import { EROFS_MAGIC_BYTES, hostTraces, importRomImage, probeArgs, readProbe, romStore } from './helpers.js';

/**
 * `at`: an EROFS ROM mounted read-only before the app starts (the driver's
 * shared image mounts). Two instances of one base with different ROMs at the
 * same path read different code; writing there fails; a PATCH moves it at
 * the next start.
 */
const shared = useTestNode();
const readRom = 'echo "ROM $(busybox cat /rom/rom.py)"; if (echo x > /rom/new) 2>/dev/null; then echo "ROMWRITE ok"; else echo "ROMWRITE refused"; fi';

test('two instances of one base, different inline ROMs at /rom: each app reads its own code; the mount is read-only', async () => {
  const api = shared.n.api;
  const mk = (name: string, answer: string) =>
    api('POST', '/v1/instances', { name, image: 'hello:latest', args: probeArgs(readRom), timeout_s: 10, roms: [{ name: 'python_function.py', at: '/rom', files: [{ path: 'rom.py', data: `def function(): return "${answer}"` }] }] });
  const a = await mk('at-a', 'Hi from 1st ROM!');
  assert.equal(a.status, 200, JSON.stringify(a.json));
  const b = await mk('at-b', 'Hi from 2nd ROM!');
  assert.equal(b.status, 200, JSON.stringify(b.json));
  const pa = await readProbe(shared.n, 'at-a');
  const pb = await readProbe(shared.n, 'at-b');
  assert.ok(pa.lines.includes('ROM def function(): return "Hi from 1st ROM!"'), pa.lines.join('\n'));
  assert.ok(pb.lines.includes('ROM def function(): return "Hi from 2nd ROM!"'), pb.lines.join('\n'));
  assert.ok(pa.lines.includes('ROMWRITE refused') && pb.lines.includes('ROMWRITE refused'), 'writing under at fails');
  assert.equal(pa.devices.get('/dev/ukp_rom_python_function.py')![1], EROFS_MAGIC_BYTES, 'the device is there too');
  await api('DELETE', '/v1/instances', [{ name: 'at-a' }, { name: 'at-b' }]);
  assert.deepEqual(romStore(shared.n.config.home), { files: [], tmp: [] });
  assert.deepEqual(await hostTraces(shared.n.config.home), [], 'no loop device or shared mount outlives its last instance');
});

test('a ROM image mounted at /rom, shared by two instances; PATCH while stopped moves it at the next start', async () => {
  const api = shared.n.api;
  await importRomImage(shared.n, 'code-rom:1', { 'rom.py': 'from the image' });
  for (const name of ['img-1', 'img-2']) {
    const r = await api('POST', '/v1/instances', { name, image: 'hello:latest', args: probeArgs('echo "ROM $(busybox cat /rom/rom.py)"; echo "ALT $(busybox cat /alt/rom.py 2>/dev/null)"'), timeout_s: 10, roms: [{ name: 'code', image: 'code-rom:1', at: '/rom' }] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.ok((await readProbe(shared.n, name)).lines.includes('ROM from the image'));
  }
  await api('PUT', '/v1/instances/stop', [{ name: 'img-2' }]);
  await api('GET', '/v1/instances/wait?name=img-2&state=stopped&timeout_s=15');
  await api('PATCH', '/v1/instances', [{ name: 'img-2', prop: 'roms', op: 'set', value: [{ name: 'code', image: 'code-rom:1', at: '/alt' }] }]);
  await api('PUT', '/v1/instances/start', [{ name: 'img-2', timeout_s: 10 }]);
  const p = await readProbe(shared.n, 'img-2');
  assert.ok(p.lines.includes('ALT from the image'), p.lines.join('\n'));
  assert.ok(p.lines.includes('ROM '), 'nothing at /rom any more');
  await api('DELETE', '/v1/instances', [{ name: 'img-1' }, { name: 'img-2' }]);
  assert.deepEqual(await hostTraces(shared.n.config.home), []);
});
