import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { HangarError } from '../../../src/lib/errors.js';
import { SANDBOX_ID_BASE } from '../../../src/lib/idmap.js';
import { sha256 } from '../../../src/lib/digest.js';
import { buildTar, type TarEntrySpec } from '../../../src/image/tar-writer.js';
import { unpackLayers, type UnpackLayer } from '../../../src/image/unpack.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (chown to the sandbox id range)';

const file = (path: string, data = path, extra: Partial<TarEntrySpec> = {}): TarEntrySpec => ({ path, type: 'file', data: Buffer.from(data), ...extra });
const dir = (path: string, extra: Partial<TarEntrySpec> = {}): TarEntrySpec => ({ path, type: 'dir', ...extra });
const sym = (path: string, linkpath: string): TarEntrySpec => ({ path, type: 'symlink', linkpath });
const hard = (path: string, linkpath: string): TarEntrySpec => ({ path, type: 'hardlink', linkpath });

const exists = async (p: string): Promise<boolean> => {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
};

describe('unpackLayers', { skip }, () => {
  let work: string;
  let n = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hangar-unpack-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** Writes each layer to a file (gzip when asked) and unpacks them all into a fresh root. */
  async function unpack(layers: TarEntrySpec[][], opts: { gzip?: boolean } = {}): Promise<string> {
    const root = join(work, `root-${++n}`);
    await mkdir(root);
    const files: UnpackLayer[] = [];
    for (const [i, entries] of layers.entries()) {
      const tar = buildTar(entries);
      const blob = opts.gzip ? gzipSync(tar) : tar;
      const path = join(work, `layer-${n}-${i}`);
      await writeFile(path, blob);
      files.push({ path, compression: opts.gzip ? 'gzip' : 'none', diffId: sha256(tar) });
    }
    await unpackLayers(files, root);
    return root;
  }

  async function refused(layers: TarEntrySpec[][], re: RegExp): Promise<void> {
    await assert.rejects(unpack(layers), (e: unknown) => {
      assert.ok(e instanceof HangarError, String(e));
      assert.equal(e.kind, 'invalid_argument');
      assert.match(e.message, re);
      return true;
    });
  }

  it('applies files, dirs, symlinks and hardlinks with shifted owners and kept modes', async () => {
    const root = await unpack(
      [
        [
          dir('usr/'),
          dir('usr/bin/', { mode: 0o750, uid: 0, gid: 0 }),
          file('usr/bin/tool', '#!/bin/sh\n', { mode: 0o4755, uid: 0, gid: 0 }),
          file('home/user/notes', 'hi', { mode: 0o600, uid: 1000, gid: 1001 }),
          file('weird', 'x', { uid: 70000, gid: 70000 }),
          sym('usr/bin/alias', 'tool'),
          hard('usr/bin/tool2', 'usr/bin/tool'),
        ],
      ],
      { gzip: true },
    );
    const tool = await stat(join(root, 'usr/bin/tool'));
    assert.equal(tool.uid, SANDBOX_ID_BASE);
    assert.equal(tool.gid, SANDBOX_ID_BASE);
    assert.equal(tool.mode & 0o7777, 0o4755, 'setuid kept');
    assert.equal((await stat(join(root, 'usr/bin'))).mode & 0o7777, 0o750);
    const notes = await stat(join(root, 'home/user/notes'));
    assert.equal(notes.uid, SANDBOX_ID_BASE + 1000);
    assert.equal(notes.gid, SANDBOX_ID_BASE + 1001);
    assert.equal(notes.mode & 0o777, 0o600);
    // implicit parent directories belong to sandbox root
    const home = await stat(join(root, 'home'));
    assert.equal(home.uid, SANDBOX_ID_BASE);
    assert.equal(home.mode & 0o777, 0o755);
    // ids outside the sandbox range become nobody
    assert.equal((await stat(join(root, 'weird'))).uid, SANDBOX_ID_BASE + 65534);
    assert.equal(await readlink(join(root, 'usr/bin/alias')), 'tool');
    assert.equal((await lstat(join(root, 'usr/bin/alias'))).uid, SANDBOX_ID_BASE);
    assert.equal((await stat(join(root, 'usr/bin/tool2'))).ino, tool.ino);
    const rootSt = await stat(root);
    assert.equal(rootSt.uid, SANDBOX_ID_BASE);
    assert.equal(rootSt.mode & 0o777, 0o755);
    // mtimes kept (the writer's fixed 2024-01-01)
    assert.equal(tool.mtime.toISOString(), '2024-01-01T00:00:00.000Z');
  });

  it('handles whiteouts: .wh.<name> removes lower content and is not materialised', async () => {
    const root = await unpack([
      [file('a'), dir('d/'), file('d/x'), file('d/y'), file('keep')],
      [file('.wh.a'), file('d/.wh.x'), file('.wh.nothing-there')],
    ]);
    assert.deepEqual((await readdir(root)).sort(), ['d', 'keep']);
    assert.deepEqual(await readdir(join(root, 'd')), ['y']);
  });

  it('handles whiteouts of whole directories', async () => {
    const root = await unpack([[dir('gone/'), dir('gone/sub/'), file('gone/sub/f')], [file('.wh.gone')]]);
    assert.deepEqual(await readdir(root), []);
  });

  it('handles opaque directories: lower content hidden, same-layer content kept', async () => {
    const root = await unpack([
      [dir('d/'), file('d/old1'), dir('d/olddir/'), file('d/olddir/f'), file('other')],
      [dir('d/'), file('d/early'), file('d/.wh..wh..opq'), file('d/late')],
    ]);
    assert.deepEqual((await readdir(join(root, 'd'))).sort(), ['early', 'late']);
    assert.ok(await exists(join(root, 'other')));
  });

  it('replaces entries of another type and never writes through a symlink', async () => {
    const outside = join(work, 'outside-target.txt');
    await writeFile(outside, 'precious');
    const root = await unpack([
      [sym('f', outside), dir('was-dir/'), file('was-dir/x'), file('was-file')],
      [file('f', 'replaced'), file('was-dir', 'now a file'), dir('was-file/')],
    ]);
    assert.equal(await readFile(outside, 'utf8'), 'precious');
    assert.equal(await readFile(join(root, 'f'), 'utf8'), 'replaced');
    assert.ok((await lstat(join(root, 'f'))).isFile());
    assert.equal(await readFile(join(root, 'was-dir'), 'utf8'), 'now a file');
    assert.ok((await lstat(join(root, 'was-file'))).isDirectory());
  });

  it('resolves parent symlinks inside the root, even absolute ones pointing at host paths', async () => {
    const outsideDir = join(work, 'outside-dir');
    await mkdir(outsideDir);
    const root = await unpack([[sym('escape', outsideDir), file('escape/pwned', 'x'), sym('up', '/'), file('up/etc/via-up', 'y')]]);
    assert.deepEqual(await readdir(outsideDir), [], 'nothing written outside the root');
    assert.equal(await readFile(join(root, outsideDir, 'pwned'), 'utf8'), 'x');
    assert.equal(await readFile(join(root, 'etc/via-up'), 'utf8'), 'y');
    assert.equal(await readlink(join(root, 'escape')), outsideDir, 'absolute symlinks are kept as they are');
  });

  it('refuses .. traversal', async () => {
    await refused([[file('../evil')]], /'\.\.\/evil' refused: path contains '\.\.'/);
    await refused([[dir('a/'), file('a/../../evil')]], /contains '\.\.'/);
    await refused([[file('../.wh.x')]], /contains '\.\.'/);
  });

  it('refuses absolute paths', async () => {
    await refused([[file('/etc/evil')]], /'\/etc\/evil' refused: absolute path/);
  });

  it('refuses hardlinks that escape or dangle', async () => {
    await refused([[hard('h', '../../../etc/passwd')]], /hardlink target .*'\.\.'/);
    await refused([[hard('h', '/etc/passwd')]], /hardlink target .*absolute/);
    await refused([[hard('h', 'missing')]], /does not exist/);
    await refused([[dir('d/'), hard('h', 'd')]], /is a directory/);
  });

  it('refuses relative symlinks that climb out of the root', async () => {
    await refused([[dir('a/'), sym('a/up', '../../etc')]], /points outside the root/);
    await refused([[sym('up', '..')]], /points outside the root/);
  });

  it('accepts relative symlinks that stay inside', async () => {
    const root = await unpack([[dir('usr/lib/'), sym('usr/lib/x', '../../etc/x'), sym('lib', 'usr/lib')]]);
    assert.equal(await readlink(join(root, 'usr/lib/x')), '../../etc/x');
  });

  it('refuses writing below something that is not a directory', async () => {
    await refused([[file('f'), file('f/child')]], /'f' is not a directory/);
  });

  it('refuses symlink loops', async () => {
    await refused([[sym('a', 'b'), sym('b', 'a'), file('a/x')]], /too many levels of symbolic links/);
  });

  it('skips device nodes and FIFOs', async () => {
    const root = await unpack([
      [dir('dev/'), { path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }, { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 }, { path: 'fifo', type: 'fifo' }, file('ok')],
    ]);
    assert.deepEqual(await readdir(join(root, 'dev')), []);
    assert.deepEqual((await readdir(root)).sort(), ['dev', 'ok']);
  });

  it('accepts an empty layer', async () => {
    const root = await unpack([[], [file('x')]]);
    assert.deepEqual(await readdir(root), ['x']);
  });

  it('unpacks zstd layers', { skip: spawnSync('zstd', ['--version']).status === 0 ? false : 'zstd not installed' }, async () => {
    const root = join(work, 'zstd-root');
    await mkdir(root);
    const tar = buildTar([dir('z/'), file('z/data', 'zz'.repeat(5000))]);
    const plain = join(work, 'zstd-layer.tar');
    await writeFile(plain, tar);
    assert.equal(spawnSync('zstd', ['-q', '-f', plain, '-o', `${plain}.zst`]).status, 0);
    await unpackLayers([{ path: `${plain}.zst`, compression: 'zstd', diffId: sha256(tar) }], root);
    assert.equal(await readFile(join(root, 'z/data'), 'utf8'), 'zz'.repeat(5000));
    // corrupt zstd is refused
    await writeFile(`${plain}.bad.zst`, Buffer.concat([(await readFile(`${plain}.zst`)).subarray(0, 20), Buffer.alloc(50, 7)]));
    await assert.rejects(unpackLayers([{ path: `${plain}.bad.zst`, compression: 'zstd' }], join(work, 'zstd-root')), (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument');
  });

  it('refuses gzip corrupted in the middle of a large file (and does not hang)', async () => {
    const root = join(work, 'gzmid-root');
    await mkdir(root);
    const data = Buffer.concat(Array.from({ length: 300 }, (_, i) => Buffer.concat([Buffer.from(sha256(String(i))), Buffer.alloc(8000, 65)])));
    const gz = gzipSync(buildTar([file('big', data.toString('latin1')), file('after')]));
    for (let i = 0; i < 2000; i++) gz[Math.floor(gz.length / 3) + i] = (i * 7) & 0xff;
    const path = join(work, 'gzmid-layer');
    await writeFile(path, gz);
    await assert.rejects(unpackLayers([{ path, compression: 'gzip' }], root), (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument' && /layer 0/.test(e.message));
  });

  it('refuses a truncated layer', async () => {
    const root = join(work, 'trunc-root');
    await mkdir(root);
    const tar = buildTar([file('big', 'z'.repeat(5000))]);
    const path = join(work, 'trunc-layer');
    await writeFile(path, tar.subarray(0, 2048));
    await assert.rejects(unpackLayers([{ path, compression: 'none' }], root), (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument' && /Truncated/i.test(e.message));
  });

  it('refuses a layer whose content does not match its diff_id', async () => {
    const root = join(work, 'diffid-root');
    await mkdir(root);
    const path = join(work, 'diffid-layer');
    await writeFile(path, buildTar([file('x')]));
    await assert.rejects(unpackLayers([{ path, compression: 'none', diffId: sha256('other') }], root), /diff_id/);
  });

  it('refuses corrupt gzip', async () => {
    const root = join(work, 'gz-root');
    await mkdir(root);
    const path = join(work, 'gz-layer');
    const gz = gzipSync(buildTar([file('x', 'y'.repeat(10000))]));
    gz[gz.length - 12] = gz[gz.length - 12]! ^ 0xff;
    gz[20] = gz[20]! ^ 0xff;
    await writeFile(path, gz);
    await assert.rejects(unpackLayers([{ path, compression: 'gzip' }], root), (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument');
  });
});
