import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instance, InstanceRom } from '../../../src/core/instance.js';
import { atProblem, checkRoms, filePathProblem, MAX_INLINE_BYTES, type RomInput } from '../../../src/core/instances/rom-input.js';
import { assertRomsChangeable, deleteRoms, droppedDigests, numberedNames, romDevicePath, romSandboxParts } from '../../../src/core/instances/roms.js';
import { sandboxSpecFor } from '../../../src/core/instances/sandbox-spec.js';
import { HangarError } from '../../../src/lib/errors.js';

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    if (e instanceof HangarError) return e.kind === 'invalid_argument' ? e.field : `${e.kind}`;
    throw e;
  }
  return undefined;
};

const text = (path: string, data = 'x'): { path: string; data: string } => ({ path, data });
const inline = (o: Partial<RomInput> = {}): RomInput => ({ files: [text('rom.py', 'def function(): return 1\n')], ...o });
const rom = (name: string, o: Partial<InstanceRom> = {}): InstanceRom => ({ name, digest: `sha256:${'a'.repeat(64)}`, format: 'erofs', sizeBytes: 4096, ...o });

// Every rule of the contract and of the "Bad input", with the field it must name.
const TABLE: Array<[string, RomInput[], string]> = [
  ['nine ROMs', Array.from({ length: 9 }, () => inline()), 'roms'],
  ['image and files', [{ image: 'r:1', files: [text('a')] }], 'roms[0].image'],
  ['neither image nor files', [{ name: 'x' }], 'roms[0].image'],
  ['name with a slash', [inline({ name: 'a/b' })], 'roms[0].name'],
  ['name ..', [inline({ name: '..' })], 'roms[0].name'],
  ['name starting with -', [inline({ name: '-x' })], 'roms[0].name'],
  ['empty name', [inline({ name: '' })], 'roms[0].name'],
  ['name with a space', [inline({ name: 'a b' })], 'roms[0].name'],
  ['reserved name', [inline({ name: 'ukp_rom0' })], 'roms[0].name'],
  ['duplicate names', [inline({ name: 'fn' }), inline({ name: 'fn' })], 'roms[1].name'],
  ['relative at', [inline({ at: 'rom' })], 'roms[0].at'],
  ['at /', [inline({ at: '/' })], 'roms[0].at'],
  ['at with ..', [inline({ at: '/rom/../etc' })], 'roms[0].at'],
  ['at not normalised', [inline({ at: '/rom//x' })], 'roms[0].at'],
  ['at with trailing slash', [inline({ at: '/rom/' })], 'roms[0].at'],
  ['at on /proc', [inline({ at: '/proc/self' })], 'roms[0].at'],
  ['at on /sys', [inline({ at: '/sys' })], 'roms[0].at'],
  ['at on /dev', [inline({ at: '/dev/ukp' })], 'roms[0].at'],
  ['at on /etc/hosts', [inline({ at: '/etc/hosts' })], 'roms[0].at'],
  ['at above /etc/resolv.conf', [inline({ at: '/etc' })], 'roms[0].at'],
  ['at on /tmp itself', [inline({ at: '/tmp' })], 'roms[0].at'],
  ['two ROMs at one path', [inline({ at: '/rom' }), inline({ at: '/rom' })], 'roms[1].at'],
  ['a ROM inside another', [inline({ at: '/rom' }), inline({ at: '/rom/sub' })], 'roms[1].at'],
  ['no files', [{ files: [] }], 'roms[0].files'],
  ['17 files', [{ files: Array.from({ length: 17 }, (_, i) => text(`f${i}`)) }], 'roms[0].files'],
  ['1.2 MB of data', [{ files: [text('big', 'x'.repeat(1_200_000))] }], 'roms[0].files'],
  ['absolute file path', [{ files: [text('/etc/passwd')] }], 'roms[0].files[0].path'],
  ['file path with ..', [{ files: [text('a'), text('../x')] }], 'roms[0].files[1].path'],
  ['empty file path', [{ files: [text('')] }], 'roms[0].files[0].path'],
  ['duplicate file paths', [{ files: [text('a'), text('a')] }], 'roms[0].files[1].path'],
  ['a file that is also a folder', [{ files: [text('a'), text('a/b')] }], 'roms[0].files[0].path'],
  ['bad base64', [{ files: [{ path: 'a', encoding: 'base64', data: 'not base64!' }] }], 'roms[0].files[0].data'],
  ['base64 of a wrong length', [{ files: [{ path: 'a', encoding: 'base64', data: 'abc' }] }], 'roms[0].files[0].data'],
];

for (const [what, roms, field] of TABLE) {
  test(`checkRoms refuses ${what}, naming ${field}`, () => {
    assert.equal(fieldOf(() => checkRoms(roms)), field);
  });
}

test('checkRoms accepts the docs example name, a ROM under /tmp, base64, 16 files and exactly 1 MiB', () => {
  const ok = checkRoms([
    { name: 'python_function.py', image: 'my-rom1:latest', at: '/rom' },
    { files: [{ path: 'bin/data', encoding: 'base64', data: Buffer.from([0, 1, 2, 255]).toString('base64') }], at: '/tmp/rom' },
    { files: Array.from({ length: 16 }, (_, i) => text(`d/f${i}`)) },
    { files: [text('big', 'x'.repeat(MAX_INLINE_BYTES))] },
  ]);
  assert.equal(ok.length, 4);
  assert.deepEqual(ok[0]!.source, { kind: 'image', ref: 'my-rom1:latest' });
  const second = ok[1]!.source;
  assert.ok(second.kind === 'inline');
  assert.deepEqual([...second.files[0]!.data], [0, 1, 2, 255]);
  assert.equal(ok[1]!.field, 'roms[1]');
});

test('checkRoms counts and names against the ROMs an instance has (PATCH add)', () => {
  const existing = [rom('fn', { at: '/rom' }), ...Array.from({ length: 6 }, (_, i) => rom(`r${i}`))];
  assert.equal(fieldOf(() => checkRoms([inline({ name: 'fn' })], existing, 'value')), 'value[0].name');
  assert.equal(fieldOf(() => checkRoms([inline({ at: '/rom/x' })], existing, 'value')), 'value[0].at');
  assert.equal(fieldOf(() => checkRoms([inline(), inline()], existing, 'value')), 'value');
  assert.equal(checkRoms([inline()], existing, 'value').length, 1);
});

test('atProblem and filePathProblem accept ordinary paths', () => {
  for (const p of ['/rom', '/app/code', '/tmp/rom', '/run/x', '/etcetera', '/devices']) assert.equal(atProblem(p), undefined, p);
  for (const p of ['rom.py', 'a/b/c.txt', '.hidden', 'x..y']) assert.equal(filePathProblem(p), undefined, p);
});

test('unnamed ROMs are numbered with the lowest numbers the instance does not use', () => {
  assert.deepEqual(numberedNames([], 3), ['ukp_rom0', 'ukp_rom1', 'ukp_rom2']);
  const existing = [rom('ukp_rom0', { numbered: true }), rom('ukp_rom2', { numbered: true }), rom('ukp_rom1')];
  assert.deepEqual(numberedNames(existing, 2), ['ukp_rom1', 'ukp_rom3']);
});

test('device paths: /dev/ukp_rom_<name> for named ROMs, /dev/ukp_rom<N> for numbered ones', () => {
  assert.equal(romDevicePath({ name: 'python_function.py' }), '/dev/ukp_rom_python_function.py');
  assert.equal(romDevicePath({ name: 'ukp_rom3', numbered: true }), '/dev/ukp_rom3');
});

test('PATCH rules: only a stopped instance; del by name, unknown names named, no names = all', () => {
  const inst = { name: 'web', state: 'stopped' } as Instance;
  assert.doesNotThrow(() => assertRomsChangeable(inst));
  for (const state of ['running', 'starting', 'standby', 'stopping', 'draining', 'template'] as const) {
    assert.equal(fieldOf(() => assertRomsChangeable({ ...inst, state })), 'failed_precondition', state);
  }
  const roms = [rom('a'), rom('b', { digest: `sha256:${'b'.repeat(64)}` }), rom('c')];
  assert.deepEqual(deleteRoms(roms, ['b']).map((r) => r.name), ['a', 'c']);
  assert.deepEqual(deleteRoms(roms, undefined), []);
  assert.equal(fieldOf(() => deleteRoms(roms, ['zz'])), 'value');
  assert.equal(fieldOf(() => deleteRoms(roms, ['a', 'zz'])), 'value[1]');
  assert.deepEqual(droppedDigests(roms, deleteRoms(roms, ['b'])), [`sha256:${'b'.repeat(64)}`]);
  // 'a' and 'c' share bytes: dropping one keeps them.
  assert.deepEqual(droppedDigests(roms, deleteRoms(roms, ['a'])), []);
});

test('the sandbox gets a read-only device per ROM and an EROFS mount for each `at`, after the network files', () => {
  const parts = romSandboxParts([
    { rom: rom('fn', { at: '/rom' }), path: '/h/roms/sha256/aa' },
    { rom: rom('ukp_rom0', { numbered: true, format: 'cpio' }), path: '/h/roms/sha256/bb' },
  ]);
  assert.deepEqual(parts.devices, [
    { path: '/dev/ukp_rom_fn', source: '/h/roms/sha256/aa', readonly: true },
    { path: '/dev/ukp_rom0', source: '/h/roms/sha256/bb', readonly: true },
  ]);
  assert.deepEqual(parts.mounts, [{ type: 'image', source: '/h/roms/sha256/aa', target: '/rom', fsType: 'erofs', readonly: true }]);
  const inst = { uuid: 'u', name: 'web', hostname: 'web', memoryMb: 64, vcpus: 1 } as Instance;
  const image = { ref: 'hello:latest', digest: 'sha256:0', rootfs: '/r', sizeBytes: 1, config: { entrypoint: ['/hello'], cmd: [], env: [], workingDir: '/', user: '' } };
  const net = { ip: '10.0.0.2', mac: 'm', netnsPath: '/n', hosts: '/h/hosts', resolvConf: '/h/resolv' } as Parameters<typeof sandboxSpecFor>[2];
  const spec = sandboxSpecFor(inst, image, net, '/log', [{ rom: rom('fn', { at: '/rom' }), path: '/h/roms/sha256/aa' }]);
  assert.deepEqual(spec.mounts.map((m) => m.target), ['/etc/hosts', '/etc/resolv.conf', '/rom']);
  assert.deepEqual(spec.devices.map((d) => d.path), ['/dev/ukp_rom_fn']);
  assert.deepEqual(sandboxSpecFor(inst, image, net, '/log').devices, []);
});

test('instances hold their ROM images: removal refused naming the instance and ROM, GC keeps the manifest and the ROM layer; inline ROMs hold none', async () => {
  const { ImageService } = await import('../../../src/core/images/service.js');
  const { MemoryPinStore } = await import('../../../src/core/images/memory-pins.js');
  const { instanceRomImages } = await import('../../../src/core/images/roms.js');
  const { FakeClock } = await import('../../helpers/fake-clock.js');
  const manifest = `sha256:${'1'.repeat(64)}`;
  const layer = `sha256:${'2'.repeat(64)}`;
  const inlineDigest = `sha256:${'3'.repeat(64)}`;
  const instances = [
    { name: 'web', owner: 'u1', roms: [rom('fn', { image: 'fn-rom:1', imageDigest: manifest, digest: layer }), rom('ukp_rom0', { numbered: true, files: ['a'], digest: inlineDigest })] },
  ] as Instance[];
  const svc = new ImageService({ pins: new MemoryPinStore(), clock: new FakeClock(), sources: [instanceRomImages(() => instances)] });
  const refused = await svc.refusal({ ref: 'fn-rom:1', digest: manifest, lastTag: true });
  assert.match(String(refused?.message), /web \(ROM fn\)/);
  const refusedTag = await svc.refusal({ ref: 'fn-rom:1', digest: manifest, lastTag: false, tag: { repo: 'fn-rom', tag: '1' } });
  assert.ok(refusedTag, 'the tag the ROM was attached by cannot go either');
  const keep = await svc.keepSet();
  assert.ok(keep.has(manifest) && keep.has(layer));
  assert.equal(keep.has(inlineDigest), false);
  instances.length = 0;
  assert.equal(await svc.refusal({ ref: 'fn-rom:1', digest: manifest, lastTag: true }), undefined);
});
