/**
 * `--rom` on create/deploy: how each spec becomes the API's `roms[]` entry
 * (image references as they are, `dir=` folders as inline base64 files), the
 * inline limits with an error that says to `hangar pkg` instead, and how
 * `instance get` shows ROMs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { withDefaults } from '../../../src/cli/io.js';
import { planCreate, type CreateFlags } from '../../../src/cli/commands/instance-create.js';
import { instanceFields, romsText } from '../../../src/cli/commands/instance-view.js';
import { INLINE_MAX_BYTES, INLINE_MAX_FILES, inlineRomFiles } from '../../../src/cli/rom-files.js';
import type { Ctx } from '../../../src/cli/spec.js';

const scratch = mkdtempSync(join(tmpdir(), 'hangar-cli-roms-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const ctx = (cwd: string): Ctx => ({
  io: withDefaults({ cwd, env: {}, out: () => undefined, err: () => undefined }),
  globals: {},
  node: () => assert.fail('planning must not reach the node'),
  fail: () => assert.fail('no partial failures while planning'),
});

const flags = (rom: string[]): CreateFlags => ({ env: [], port: [], rom, start: true, wait: '10s' });

const folder = (name: string, files: Record<string, string | Buffer>): string => {
  const dir = join(scratch, name);
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), data);
  }
  return dir;
};

const throwsField = (fn: () => unknown, re: RegExp): void => {
  assert.throws(fn, (e: Error & { field?: string; kind?: string }) => {
    assert.match(e.message, re);
    assert.equal(e.kind, 'invalid_argument');
    assert.equal(e.field, '--rom');
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
};

test('image= ROMs go to the node as references, with name and at when given', () => {
  const plan = planCreate(ctx(scratch), flags(['image=python-rom1:latest,at=/rom', 'image=data:v2,name=data']), 'base:latest', []);
  assert.deepEqual(plan.body['roms'], [{ image: 'python-rom1:latest', at: '/rom' }, { name: 'data', image: 'data:v2' }]);
  assert.equal(plan.body['image'], 'base:latest');
});

test('no --rom, no roms field', () => {
  assert.equal('roms' in planCreate(ctx(scratch), flags([]), 'base:latest', []).body, false);
});

test('dir= sends the folder inline: every file, sorted, relative, base64, read from the working folder', () => {
  const bin = Buffer.from([0, 1, 2, 255, 254]);
  folder('fs1', { 'rom.py': 'def function():\n    return "Hi from 1st ROM!\\n"\n', 'lib/helper.py': 'X = 1\n', 'lib/blob.bin': bin });
  const plan = planCreate(ctx(scratch), flags(['dir=fs1,at=/rom,name=code']), 'base:latest', []);
  assert.deepEqual(plan.body['roms'], [
    {
      name: 'code',
      files: [
        { path: 'lib/blob.bin', encoding: 'base64', data: bin.toString('base64') },
        { path: 'lib/helper.py', encoding: 'base64', data: Buffer.from('X = 1\n').toString('base64') },
        { path: 'rom.py', encoding: 'base64', data: Buffer.from('def function():\n    return "Hi from 1st ROM!\\n"\n').toString('base64') },
      ],
      at: '/rom',
    },
  ]);
});

test('dir= at the limits is accepted: 16 files, 1 MiB in all', () => {
  const files: Record<string, Buffer> = {};
  const each = Math.floor(INLINE_MAX_BYTES / INLINE_MAX_FILES);
  for (let i = 0; i < INLINE_MAX_FILES; i++) files[`f${String(i).padStart(2, '0')}`] = Buffer.alloc(i === 0 ? INLINE_MAX_BYTES - each * (INLINE_MAX_FILES - 1) : each, i);
  const dir = folder('at-limit', files);
  const out = inlineRomFiles(scratch, dir);
  assert.equal(out.length, INLINE_MAX_FILES);
  assert.equal(out.reduce((n, f) => n + Buffer.from(f.data, 'base64').length, 0), INLINE_MAX_BYTES);
});

test('dir= past the inline limits: an error naming --rom that says to pkg the folder, nothing sent', () => {
  const many = folder('seventeen', Object.fromEntries(Array.from({ length: INLINE_MAX_FILES + 1 }, (_, i) => [`d${i % 3}/f${i}.txt`, 'x'])));
  throwsField(() => planCreate(ctx(scratch), flags(['dir=seventeen,at=/rom']), 'b', []), /^--rom dir=seventeen: more than 16 files, the most an inline ROM takes; package it as a ROM image instead: hangar pkg --rom seventeen -n <name> --push, then --rom image=<name>,at=…$/);
  assert.ok(many);
  folder('big', { 'a.bin': Buffer.alloc(600_000, 1), 'b.bin': Buffer.alloc(600_000, 2) });
  throwsField(() => planCreate(ctx(scratch), flags(['dir=big,at=/rom']), 'b', []), /^--rom dir=big: more than 1 MiB of files, the most an inline ROM takes; package it as a ROM image instead: hangar pkg --rom big/);
});

test('dir= that is missing, a file, empty, or holds a symlink is refused with one line', () => {
  folder('afile', { 'x.txt': 'x' });
  mkdirSync(join(scratch, 'empty'), { recursive: true });
  const withLink = folder('withlink', { 'real.txt': 'x' });
  symlinkSync('real.txt', join(withLink, 'link.txt'));
  throwsField(() => planCreate(ctx(scratch), flags(['dir=nope,at=/rom']), 'b', []), /^--rom dir=nope: cannot read the folder \(ENOENT\)$/);
  throwsField(() => planCreate(ctx(scratch), flags(['dir=afile/x.txt,at=/rom']), 'b', []), /is not a folder/);
  throwsField(() => planCreate(ctx(scratch), flags(['dir=empty,at=/rom']), 'b', []), /the folder has no files/);
  throwsField(() => planCreate(ctx(scratch), flags(['dir=withlink,at=/rom']), 'b', []), /link\.txt is not a regular file/);
});

test('several inline ROMs within their own limits but past the 8 MiB request: refused before sending', () => {
  const specs: string[] = [];
  for (let r = 0; r < 8; r++) {
    // Random bytes: base64 makes each ROM ~1.33 MiB on the wire, 8 of them pass 8 MiB.
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 4; i++) files[`f${i}`] = Buffer.from(Array.from({ length: 250_000 }, (_, k) => (k * 31 + r * 7 + i) & 0xff));
    folder(`big${r}`, files);
    specs.push(`dir=big${r},at=/r${r}`);
  }
  throwsField(() => planCreate(ctx(scratch), flags(specs), 'b', []), /make the request larger than the node's 8 MiB/);
});

test('instance get shows each ROM: name, image or inline, and where it is mounted', () => {
  assert.equal(
    romsText([
      { name: 'ukp_rom0', image: 'python-rom1:latest', at: '/rom' },
      { name: 'code', at: '/app' },
      { name: 'raw', image: { name: 'data:v1' } },
    ]),
    'ukp_rom0 (python-rom1:latest) at /rom, code (inline) at /app, raw (data:v1)',
  );
  assert.equal(romsText(undefined), '');
  const block = instanceFields({ status: 'success', name: 'fn1', roms: [{ name: 'fn', image: 'python-rom1:latest', at: '/rom' }] });
  assert.match(block, /^roms: +fn \(python-rom1:latest\) at \/rom$/m);
  assert.doesNotMatch(instanceFields({ status: 'success', name: 'plain' }), /roms/);
});
