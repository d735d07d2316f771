/** ROM/rootfs images: 4096 padding, the CPIO writer, format detection, reproducible tar layers. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile, chmod, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { detectFsFormat, padFile, paddedSize, writeCpio } from '../../../src/builder/fs-image.js';
import { excludeMatcher, tarDirectory } from '../../../src/builder/layer.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hangar-fsimg-'));
  await mkdir(join(dir, 'src', 'sub', 'testdata'), { recursive: true });
  await writeFile(join(dir, 'src', 'b.txt'), 'bee\n');
  await writeFile(join(dir, 'src', 'a.txt'), 'a\n');
  await chmod(join(dir, 'src', 'a.txt'), 0o755);
  await writeFile(join(dir, 'src', 'sub', 'testdata', 'big'), 'x');
  await link(join(dir, 'src', 'b.txt'), join(dir, 'src', 'sub', 'b-again'));
  await symlink('../a.txt', join(dir, 'src', 'sub', 'link'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('padding and alignment', () => {
  it('paddedSize rounds up to 4096', () => {
    assert.deepEqual([0, 1, 4095, 4096, 4097, 8192].map((n) => paddedSize(n)), [0, 4096, 4096, 4096, 8192, 8192]);
    assert.equal(paddedSize(10, 512), 512);
  });
  it('padFile appends zeros up to the next multiple of 4096 and leaves aligned files alone', async () => {
    const f = join(dir, 'rom');
    await writeFile(f, Buffer.from('hello'));
    assert.equal(await padFile(f), 4096);
    const bytes = await readFile(f);
    assert.equal(bytes.length, 4096);
    assert.equal(bytes.subarray(0, 5).toString(), 'hello');
    assert.ok(bytes.subarray(5).every((b) => b === 0));
    assert.equal(await padFile(f), 4096);
  });
});

describe('cpio (newc)', () => {
  it('writes sorted entries with a trailer, 4-byte aligned, reproducibly', async () => {
    const a = join(dir, 'a.cpio');
    const b = join(dir, 'b.cpio');
    await writeCpio(join(dir, 'src'), a);
    await writeCpio(join(dir, 'src'), b);
    const bytes = await readFile(a);
    assert.deepEqual(bytes, await readFile(b));
    assert.equal(detectFsFormat(bytes), 'cpio');
    const names = [...bytes.toString('latin1').matchAll(/070701[0-9a-f]{104}([^\0]+)\0/g)].map((m) => m[1]);
    assert.deepEqual(names, ['a.txt', 'b.txt', 'sub', 'sub/b-again', 'sub/link', 'sub/testdata', 'sub/testdata/big', 'TRAILER!!!']);
    assert.equal(bytes.length % 4, 0);
    const text = bytes.toString('latin1');
    assert.ok(text.includes('../a.txt'), 'the symlink target is the data of its entry');
  });
  it('detects EROFS by its superblock magic and refuses other data', () => {
    const erofs = Buffer.alloc(2048);
    erofs.writeUInt32LE(0xe0f5e1e2, 1024);
    assert.equal(detectFsFormat(erofs), 'erofs');
    assert.equal(detectFsFormat(Buffer.from('not a filesystem')), undefined);
  });
});

describe('tar layers from folders', () => {
  it('are byte-for-byte reproducible, sorted, root-owned, keep modes and hardlinks, honour excludes', async () => {
    const exclude = excludeMatcher(['**/testdata/']);
    const one = await tarDirectory(join(dir, 'src'), join(dir, 'one.tar'), { exclude });
    const two = await tarDirectory(join(dir, 'src'), join(dir, 'two.tar'), { exclude });
    assert.equal(one.digest, two.digest);
    assert.equal((await stat(one.path)).size, one.size);
    assert.equal(one.size % 512, 0);
    assert.deepEqual(one.stats, { files: 2, dirs: 1, symlinks: 1, hardlinks: 1, skipped: 0 });
    const { list } = await import('tar');
    const seen: Array<[string, string, number, number]> = [];
    await list({ file: one.path, onReadEntry: (e) => void seen.push([e.path, e.type, e.mode ?? 0, e.uid ?? -1]) });
    assert.deepEqual(seen.map((s) => s[0]), ['a.txt', 'b.txt', 'sub/', 'sub/b-again', 'sub/link']);
    assert.equal(seen[0]![2] & 0o777, 0o755);
    assert.equal(seen[3]![1], 'Link');
    assert.ok(seen.every((s) => s[3] === 0));
  });
  it('exclude patterns: prefixes, exact paths, names anywhere', () => {
    const m = excludeMatcher(['usr/share/doc/', 'etc/hostname', '**/testdata/']);
    assert.ok(m('usr/share/doc/'));
    assert.ok(m('usr/share/doc/x/copyright'));
    assert.ok(!m('usr/share/docs/'));
    assert.ok(m('etc/hostname'));
    assert.ok(!m('etc/hostname2'));
    assert.ok(m('usr/share/go/src/net/testdata/'));
    assert.ok(!m('usr/share/go/src/net/testdata.go'));
  });
});
