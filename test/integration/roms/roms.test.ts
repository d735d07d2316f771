import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useTestNode } from '../../helpers/node.js';
import { EROFS_MAGIC_BYTES, hostTraces, importRomImage, probeArgs, readProbe, romStore } from './helpers.js';

/**
 * ROMs in real runc sandboxes: the app finds each ROM as a read-only
 * /dev/ukp_rom_<name> whose bytes are the ROM (EROFS or cpio), sees only its
 * own, keeps them across stop/start, and gets PATCHed ROMs at the next start.
 */
const shared = useTestNode();
const hex = (digest: unknown): string => String(digest).replace(/^sha256:/, '');
const romsOf = async (name: string): Promise<Array<Record<string, unknown>>> => (await shared.n.api('GET', `/v1/instances?name=${name}`)).items[0]!['roms'] as Array<Record<string, unknown>>;

test('two instances of one base with different inline ROMs: each device holds its own EROFS bytes, read-only, and only its own', async () => {
  const api = shared.n.api;
  const mk = (name: string, text: string) =>
    api('POST', '/v1/instances', { name, image: 'hello:latest', args: probeArgs(), timeout_s: 10, roms: [{ name: 'python_function.py', files: [{ path: 'rom.py', data: `def function():\n    return "${text}"\n` }] }] });
  const a = await mk('rom-a', 'Hi from 1st ROM!');
  assert.equal(a.status, 200, JSON.stringify(a.json));
  const b = await mk('rom-b', 'Hi from 2nd ROM!');
  assert.equal(b.status, 200, JSON.stringify(b.json));
  const pa = await readProbe(shared.n, 'rom-a');
  const pb = await readProbe(shared.n, 'rom-b');
  const dev = '/dev/ukp_rom_python_function.py';
  assert.deepEqual([...pa.devices.keys()], [dev], 'an instance sees only its own ROM');
  assert.deepEqual([...pb.devices.keys()], [dev]);
  assert.equal(pa.devices.get(dev)![1], EROFS_MAGIC_BYTES);
  assert.equal(pb.devices.get(dev)![1], EROFS_MAGIC_BYTES);
  assert.notEqual(pa.devices.get(dev)![0], pb.devices.get(dev)![0], 'different ROMs, different bytes');
  const ra = (await romsOf('rom-a'))[0]!;
  assert.equal(pa.devices.get(dev)![0], hex(ra['digest']), 'the device holds exactly the stored ROM');
  assert.equal(ra['device'], dev);
  assert.equal(Number(ra['size_in_bytes']) % 4096, 0, 'padded to 4096');
  assert.deepEqual([...pa.writable, ...pb.writable], [], 'writing a ROM device fails');
  assert.equal(romStore(shared.n.config.home).files.length, 2);
  await api('DELETE', '/v1/instances', [{ name: 'rom-a' }, { name: 'rom-b' }]);
  assert.deepEqual(romStore(shared.n.config.home), { files: [], tmp: [] }, 'inline ROM bytes go with the last instance using them');
});

test('identical inline ROMs are stored once and stay until the last instance using them is deleted', async () => {
  const api = shared.n.api;
  const rom = { files: [{ path: 'lib/data.bin', encoding: 'base64', data: Buffer.from([1, 2, 3, 4, 5]).toString('base64') }] };
  await api('POST', '/v1/instances', { name: 'same-1', image: 'hello:latest', autostart: false, roms: [rom] });
  await api('POST', '/v1/instances', { name: 'same-2', image: 'hello:latest', autostart: false, roms: [rom] });
  const [r1] = await romsOf('same-1');
  const [r2] = await romsOf('same-2');
  assert.equal(r1!['digest'], r2!['digest'], 'reproducible packing: same files, same bytes');
  assert.equal(r1!['name'], 'ukp_rom0');
  assert.deepEqual(romStore(shared.n.config.home).files, [hex(r1!['digest'])]);
  await api('DELETE', '/v1/instances', [{ name: 'same-1' }]);
  assert.deepEqual(romStore(shared.n.config.home).files, [hex(r1!['digest'])]);
  await api('DELETE', '/v1/instances', [{ name: 'same-2' }]);
  assert.deepEqual(romStore(shared.n.config.home).files, []);
});

test('a ROM image from the node registry, attached by reference; a cpio ROM read through its device; an in-use ROM image cannot be removed', async () => {
  const api = shared.n.api;
  await importRomImage(shared.n, 'fn-rom:1', { 'rom.py': 'def function(): return "image ROM"\n' });
  await importRomImage(shared.n, 'data-cpio:1', { 'hello.txt': 'cpio says hi\n' }, 'cpio');
  const extra = 'busybox mkdir -p /tmp/x && cd /tmp/x && busybox cpio -id < /dev/ukp_rom0 2>/dev/null; echo "CPIO $(busybox cat /tmp/x/hello.txt)"';
  const r = await api('POST', '/v1/instances', { name: 'img-rom', image: 'hello:latest', args: probeArgs(extra), timeout_s: 10, roms: [{ name: 'fn', image: 'fn-rom:1' }, { image: { url: 'data-cpio:1', pull_policy: 'never' } }] });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const p = await readProbe(shared.n, 'img-rom');
  const roms = await romsOf('img-rom');
  assert.deepEqual(roms.map((x) => [x['name'], x['image'], x['format'], x['device']]), [
    ['fn', 'fn-rom:1', 'erofs', '/dev/ukp_rom_fn'],
    ['ukp_rom0', 'data-cpio:1', 'cpio', '/dev/ukp_rom0'],
  ]);
  assert.equal(p.devices.get('/dev/ukp_rom_fn')![1], EROFS_MAGIC_BYTES);
  assert.equal(p.devices.get('/dev/ukp_rom_fn')![0], hex(roms[0]!['digest']), 'the device holds the raw ROM layer');
  assert.equal(p.devices.get('/dev/ukp_rom0')![0], hex(roms[1]!['digest']));
  assert.ok(p.lines.includes('CPIO cpio says hi'), p.lines.join('\n'));

  const del = await api('DELETE', '/v1/registry/images', [{ name: 'fn-rom', tag: '1' }]);
  assert.equal(del.items[0]!['status'], 'error', JSON.stringify(del.json));
  assert.match(String(del.items[0]!['message']), /used by .*img-rom \(ROM fn\)/, 'the instance holds it, not only the lease of its create');
  await api('DELETE', '/v1/instances', [{ name: 'img-rom' }]);
  // (Removing the images right after would still meet the create's lease, which lingers 60 s by design.)
  assert.deepEqual(romStore(shared.n.config.home).files, [], 'the copies of the layers go with the last instance');
});

test('ROMs survive stop/start; a PATCH while stopped takes effect at the next start; a PATCH while running is refused', async () => {
  const api = shared.n.api;
  const c = await api('POST', '/v1/instances', { name: 'patchy', image: 'hello:latest', args: probeArgs(), timeout_s: 10, roms: [{ name: 'a', files: [{ path: 'a.txt', data: 'a' }] }] });
  assert.equal(c.status, 200, JSON.stringify(c.json));
  const first = await readProbe(shared.n, 'patchy');
  assert.deepEqual([...first.devices.keys()], ['/dev/ukp_rom_a']);

  const running = await api('PATCH', '/v1/instances', [{ name: 'patchy', prop: 'roms', op: 'add', value: [{ name: 'b', files: [{ path: 'b.txt', data: 'b' }] }] }]);
  assert.equal(running.items[0]!['status'], 'error');
  assert.match(String(running.items[0]!['message']), /only be changed while the instance is stopped/);
  assert.equal(romStore(shared.n.config.home).files.length, 1, 'a refused PATCH packs nothing that stays');

  await api('PUT', '/v1/instances/stop', [{ name: 'patchy' }]);
  await api('GET', '/v1/instances/wait?name=patchy&state=stopped&timeout_s=15');
  await api('PUT', '/v1/instances/start', [{ name: 'patchy', timeout_s: 10 }]);
  const again = await readProbe(shared.n, 'patchy');
  assert.deepEqual([...again.devices.entries()], [...first.devices.entries()], 'same ROM after stop/start');

  await api('PUT', '/v1/instances/stop', [{ name: 'patchy' }]);
  await api('GET', '/v1/instances/wait?name=patchy&state=stopped&timeout_s=15');
  const add = await api('PATCH', '/v1/instances', [{ name: 'patchy', prop: 'roms', op: 'add', value: { name: 'b', files: [{ path: 'b.txt', data: 'b' }] } }]);
  assert.equal(add.items[0]!['status'], 'success', JSON.stringify(add.json));
  const del = await api('PATCH', '/v1/instances', [{ name: 'patchy', prop: 'roms', op: 'del', value: 'a' }]);
  assert.equal(del.items[0]!['status'], 'success', JSON.stringify(del.json));
  assert.equal(romStore(shared.n.config.home).files.length, 1, "ROM 'a' bytes went with it");
  await api('PUT', '/v1/instances/start', [{ name: 'patchy', timeout_s: 10 }]);
  const patched = await readProbe(shared.n, 'patchy');
  assert.deepEqual([...patched.devices.keys()], ['/dev/ukp_rom_b']);
  assert.equal(patched.devices.get('/dev/ukp_rom_b')![0], hex((await romsOf('patchy'))[0]!['digest']));
  await api('DELETE', '/v1/instances', [{ name: 'patchy' }]);
  assert.deepEqual(romStore(shared.n.config.home), { files: [], tmp: [] });
  assert.deepEqual(await hostTraces(shared.n.config.home), []);
});
