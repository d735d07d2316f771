import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, test } from 'node:test';
import type { InstanceRom } from '../../../src/core/instance.js';
import type { PreparedRom, RomLease, RomSource, RomStore } from '../../../src/core/ports/roms.js';
import { HangarError } from '../../../src/lib/errors.js';
import { apiHarness } from './harness.js';

/**
 * A ROM store in memory: "files" are digests, leases are counted, and bytes
 * go when neither a record nor a lease names them, as in image/rom-store.ts.
 * `missing:1` does not exist, `app:1` is not a ROM, `cpio:1` is a cpio ROM.
 */
class MemoryRoms implements RomStore {
  readonly files = new Set<string>();
  readonly leases = new Map<string, number>();
  referenced: () => Promise<Set<string>> = async () => new Set();

  async prepare(src: RomSource): Promise<{ rom: PreparedRom; lease: RomLease }> {
    if (src.kind === 'image' && src.ref === 'missing:1') throw new HangarError('not_found', "image 'missing:1' not found on this node");
    if (src.kind === 'image' && src.ref === 'app:1') throw new HangarError('invalid_argument', "'app:1' is a runnable container image, not a ROM image", { field: 'image' });
    const content = src.kind === 'image' ? src.ref : JSON.stringify(src.files.map((f) => [f.path, Buffer.from(f.data).toString('hex')]));
    const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    this.files.add(digest);
    this.leases.set(digest, (this.leases.get(digest) ?? 0) + 1);
    let held = true;
    const lease = {
      release: async () => {
        if (!held) return;
        held = false;
        this.leases.set(digest, this.leases.get(digest)! - 1);
        await this.forget([digest]);
      },
    };
    const format = src.kind === 'image' && src.ref === 'cpio:1' ? 'cpio' : 'erofs';
    return { rom: { digest, format, sizeBytes: 4096, ...(src.kind === 'image' ? { imageDigest: `sha256:${'1'.repeat(64)}` } : {}) }, lease };
  }

  async pathFor(rom: InstanceRom): Promise<string> {
    return `/roms/${rom.digest}`;
  }

  async forget(digests: readonly string[]): Promise<void> {
    const refs = await this.referenced();
    for (const d of digests) if (!refs.has(d) && (this.leases.get(d) ?? 0) === 0) this.files.delete(d);
  }
}

const roms = new MemoryRoms();
const h = apiHarness({ roms });
roms.referenced = async () => new Set((await h.store.allInstances()).flatMap((i) => (i.roms ?? []).map((r) => r.digest)));
after(() => h.close());

const fn = (n: number): { path: string; data: string } => ({ path: 'rom.py', data: `def function(): return ${n}\n` });
const clean = async (): Promise<void> => {
  const all = await h.store.allInstances();
  if (all.length > 0) await h.call('DELETE', '/v1/instances', { body: all.map((i) => ({ uuid: i.uuid })) });
};

test('create with an inline ROM, an image ROM and an unnamed one: the instance object shows them with their devices', async () => {
  const r = await h.call('POST', '/v1/instances', {
    body: { name: 'fn1', image: 'hello:latest', autostart: false, roms: [{ name: 'python_function.py', files: [fn(1)], at: '/rom' }, { image: { url: 'rom:1', pull_policy: 'never' } }, { image: 'cpio:1' }] },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const got = await h.call('GET', '/v1/instances?name=fn1');
  const w = (got.json.data!['instances'] as Array<Record<string, unknown>>)[0]!['roms'] as Array<Record<string, unknown>>;
  assert.deepEqual(w.map((x) => [x['name'], x['device'], x['at'], x['format']]), [
    ['python_function.py', '/dev/ukp_rom_python_function.py', '/rom', 'erofs'],
    ['ukp_rom0', '/dev/ukp_rom0', undefined, 'erofs'],
    ['ukp_rom1', '/dev/ukp_rom1', undefined, 'cpio'],
  ]);
  assert.deepEqual(w[0]!['files'], [{ path: 'rom.py' }]);
  assert.equal(w[1]!['image'], 'rom:1');
  assert.equal(roms.files.size, 3);
  assert.equal([...roms.leases.values()].reduce((a, b) => a + b, 0), 0, 'leases are released once the record is stored');
  await clean();
  assert.equal(roms.files.size, 0, 'deleting the last instance removes its ROM bytes');
});

test('replicas get the same ROMs, stored once; the bytes stay until the last of them is deleted', async () => {
  const r = await h.call('POST', '/v1/instances', { body: { name: 'rep', image: 'hello:latest', autostart: false, replicas: 2, roms: [{ name: 'f', files: [fn(7)] }] } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const all = await h.store.allInstances();
  assert.equal(all.length, 3);
  assert.equal(new Set(all.map((i) => i.roms![0]!.digest)).size, 1);
  assert.equal(roms.files.size, 1);
  await h.call('DELETE', '/v1/instances', { body: [{ name: 'rep' }, { name: 'rep-1' }] });
  assert.equal(roms.files.size, 1);
  await h.call('DELETE', '/v1/instances', { body: [{ name: 'rep-2' }] });
  assert.equal(roms.files.size, 0);
});

const BAD: Array<[string, unknown, number, string]> = [
  ['nine ROMs', Array.from({ length: 9 }, () => ({ files: [fn(1)] })), 400, 'roms'],
  ['image and files', [{ image: 'rom:1', files: [fn(1)] }], 400, 'roms[0].image'],
  ['a bad name', [{ name: 'a/b', files: [fn(1)] }], 400, 'roms[0].name'],
  ['duplicate names', [{ name: 'a', files: [fn(1)] }, { name: 'a', image: 'rom:1' }], 400, 'roms[1].name'],
  ['at over /proc', [{ files: [fn(1)], at: '/proc' }], 400, 'roms[0].at'],
  ['at with ..', [{ files: [fn(1)], at: '/a/../b' }], 400, 'roms[0].at'],
  ['17 files', [{ files: Array.from({ length: 17 }, (_, i) => ({ path: `f${i}`, data: '' })) }], 400, 'roms[0].files'],
  ['a 1.2 MB inline ROM', [{ files: [{ path: 'big', data: 'x'.repeat(1_200_000) }] }], 400, 'roms[0].files'],
  ['an absolute file path', [{ files: [{ path: '/etc/passwd', data: '' }] }], 400, 'roms[0].files[0].path'],
  ['a file path with ..', [{ files: [{ path: 'a/../../x', data: '' }] }], 400, 'roms[0].files[0].path'],
  ['bad base64', [{ files: [{ path: 'a', encoding: 'base64', data: '%%%%' }] }], 400, 'roms[0].files[0].data'],
  ['an unknown encoding', [{ files: [{ path: 'a', encoding: 'hex', data: '00' }] }], 400, 'roms[0].files[0].encoding'],
  ['an unknown field', [{ files: [fn(1)], size: 1 }], 400, 'roms[0].size'],
  ['a ROM image that does not exist', [{ image: 'missing:1' }], 400, 'roms[0].image'],
  ['an image that is not a ROM', [{ image: 'app:1' }], 400, 'roms[0].image'],
  ['at on a cpio ROM', [{ files: [fn(2)] }, { image: 'cpio:1', at: '/data' }], 400, 'roms[1].at'],
];
for (const [what, body, status, field] of BAD) {
  test(`create refuses ${what}: ${status} naming ${field}, nothing created`, async () => {
    const r = await h.call('POST', '/v1/instances', { body: { name: 'bad', image: 'hello:latest', autostart: false, roms: body } });
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.ok(String(r.json.message).startsWith(`${field}:`), `${r.json.message} should name ${field}`);
    assert.equal((await h.store.allInstances()).length, 0);
    assert.equal(roms.files.size, 0, 'no ROM bytes are left behind');
  });
}

test("in the bulk form a bad ROM is that item's error entry, naming the field; the other items are created", async () => {
  const r = await h.call('POST', '/v1/instances', { body: [{ name: 'ok1', image: 'hello:latest', autostart: false }, { name: 'bad2', image: 'hello:latest', roms: [{ files: [], at: '/x' }] }] });
  assert.equal(r.status, 200);
  const entries = r.json.data!['instances'] as Array<Record<string, unknown>>;
  assert.equal(entries[1]!['status'], 'error');
  assert.ok(String(entries[1]!['message']).startsWith('roms[0].files:'), String(entries[1]!['message']));
  assert.deepEqual((await h.store.allInstances()).map((i) => i.name), ['ok1']);
  assert.equal(roms.files.size, 0);
  await clean();
});

test('PATCH roms: set, add and del by name while stopped; refused (409) while running; unknown names named', async () => {
  await h.call('POST', '/v1/instances', { body: { name: 'p', image: 'hello:latest', autostart: false, roms: [{ name: 'a', files: [fn(1)] }] } });
  const patch = (op: string, value?: unknown) => h.call('PATCH', '/v1/instances', { body: [{ name: 'p', prop: 'roms', op, ...(value !== undefined ? { value } : {}) }] });
  const names = async (): Promise<string[]> => ((await h.store.getInstanceByName('p'))!.roms ?? []).map((r) => r.name);
  const oldDigest = (await h.store.getInstanceByName('p'))!.roms![0]!.digest;

  let r = await patch('add', [{ files: [fn(2)] }, { name: 'b', image: 'rom:1', at: '/b' }]);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(await names(), ['a', 'ukp_rom0', 'b']);
  r = await patch('add', { name: 'a', files: [fn(3)] });
  assert.equal((r.json.data!['instances'] as Array<Record<string, unknown>>)[0]!['status'], 'error');
  assert.match(String((r.json.data!['instances'] as Array<Record<string, unknown>>)[0]!['message']), /^value\[0\]\.name:/);
  r = await patch('del', ['ukp_rom0', 'a']);
  assert.deepEqual(await names(), ['b']);
  assert.equal(roms.files.has(oldDigest), false, "bytes only the deleted ROMs used are gone");
  r = await patch('del', 'nope');
  assert.match(String((r.json.data!['instances'] as Array<Record<string, unknown>>)[0]!['message']), /^value: .*no ROM named 'nope'/);
  r = await patch('set', [{ name: 'c', files: [fn(4)] }]);
  assert.deepEqual(await names(), ['c']);
  assert.equal(roms.files.size, 1);

  const inst = (await h.store.getInstanceByName('p'))!;
  await h.store.updateInstance({ ...inst, state: 'running' });
  const one = await h.call('PATCH', `/v1/instances/${inst.uuid}`, { body: { prop: 'roms', op: 'add', value: [{ files: [fn(5)] }] } });
  const entry = (one.json.data!['instances'] as Array<Record<string, unknown>>)[0]!;
  assert.equal(entry['status'], 'error');
  assert.match(String(entry['message']), /only be changed while the instance is stopped/);
  assert.deepEqual(await names(), ['c']);
  assert.equal(roms.files.size, 1, 'a refused PATCH stores nothing');
  await h.store.updateInstance({ ...inst, state: 'stopped' });
  r = await patch('del');
  assert.deepEqual(await names(), []);
  assert.equal(roms.files.size, 0);
  await clean();
});

test('replicas beyond the old cap of 64 are admitted (the instance quota decides)', async () => {
  const r = await h.call('POST', '/v1/instances', { body: { name: 'many', image: 'hello:latest', autostart: false, replicas: 99 } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal((await h.store.allInstances()).length, 100);
  await clean();
});
