import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useTestNode } from '../../helpers/node.js';
import { hostTraces, importRomImage, romStore } from './helpers.js';

/**
 * The bad input of issue 9 against a real node: each is a 4xx naming the
 * field, and nothing is created (no record, no ROM bytes, no temp files, no
 * loop device or mount).
 */
const shared = useTestNode();
const py = { path: 'rom.py', data: 'def function(): return 1\n' };

const CASES: Array<[string, unknown[], string]> = [
  ['a ROM image that does not exist', [{ image: 'no-such-rom:1' }], 'roms[0].image'],
  ['a runnable image as a ROM (refused, not attached as data)', [{ image: 'hello:latest' }], 'roms[0].image'],
  ['a 1.2 MB inline ROM', [{ files: [{ path: 'big.bin', encoding: 'base64', data: Buffer.alloc(1_200_000, 7).toString('base64') }] }], 'roms[0].files'],
  ['a file path with ..', [{ files: [{ path: '../escape', data: 'x' }] }], 'roms[0].files[0].path'],
  ['an absolute file path', [{ files: [{ path: '/etc/passwd', data: 'x' }] }], 'roms[0].files[0].path'],
  ['bad base64', [{ files: [{ path: 'a', encoding: 'base64', data: '!!!!' }] }], 'roms[0].files[0].data'],
  ['duplicate ROM names', [{ name: 'f', files: [py] }, { name: 'f', files: [py] }], 'roms[1].name'],
  ['nine ROMs', Array.from({ length: 9 }, () => ({ files: [py] })), 'roms'],
  ['image and files together', [{ image: 'hello:latest', files: [py] }], 'roms[0].image'],
  ['at over a system path', [{ files: [py], at: '/etc/resolv.conf' }], 'roms[0].at'],
  ['at on a cpio ROM (only EROFS mounts), after a good inline ROM was packed', [{ files: [py] }, { image: 'cpio-rom:1', at: '/data' }], 'roms[1].at'],
];

test('setup: a cpio ROM image', async () => {
  await importRomImage(shared.n, 'cpio-rom:1', { 'x.txt': 'x' }, 'cpio');
});

for (const [what, roms, field] of CASES) {
  test(`refused: ${what} → 400 naming ${field}, nothing created`, async () => {
    const r = await shared.n.api('POST', '/v1/instances', { name: 'bad-rom', image: 'hello:latest', timeout_s: 10, roms });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.ok(String(r.json.message).startsWith(`${field}:`), `'${String(r.json.message)}' should name ${field}`);
    assert.equal((await shared.n.api('GET', '/v1/instances?details=false')).items.length, 0, 'no instance record');
    assert.deepEqual(romStore(shared.n.config.home), { files: [], tmp: [] }, 'no ROM bytes, no temp files');
    assert.deepEqual(await hostTraces(shared.n.config.home), [], 'no loop device or mount');
  });
}

test('PATCH with bad ROMs names value[i].<field> and changes nothing', async () => {
  const api = shared.n.api;
  await api('POST', '/v1/instances', { name: 'target', image: 'hello:latest', autostart: false, roms: [{ name: 'a', files: [py] }] });
  const before = (await api('GET', '/v1/instances?name=target')).items[0]!['roms'];
  for (const [value, field] of [
    [[{ name: 'a', files: [py] }], 'value[0].name'],
    [[{ image: 'no-such-rom:1' }], 'value[0].image'],
    [[{ files: [{ path: '../x', data: '' }] }], 'value[0].files[0].path'],
  ] as const) {
    const r = await api('PATCH', '/v1/instances', [{ name: 'target', prop: 'roms', op: 'add', value }]);
    assert.equal(r.items[0]!['status'], 'error');
    assert.ok(String(r.items[0]!['message']).startsWith(`${field}:`), String(r.items[0]!['message']));
  }
  assert.deepEqual((await api('GET', '/v1/instances?name=target')).items[0]!['roms'], before);
  assert.equal(romStore(shared.n.config.home).files.length, 1);
  await api('DELETE', '/v1/instances', [{ name: 'target' }]);
  assert.deepEqual(romStore(shared.n.config.home), { files: [], tmp: [] });
});
