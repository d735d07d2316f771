/**
 * The bundled hello image end to end: build the binary and the oci-archive with
 * our own script, import it (and skopeo's re-encodings of it) into a real store,
 * resolve, inspect the unpacked rootfs, remove. Also runs the hello server itself.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { HangarError } from '../../../src/lib/errors.js';
import { SANDBOX_ID_BASE } from '../../../src/lib/idmap.js';
import { digestHex } from '../../../src/lib/digest.js';
import { LocalImageStore } from '../../../src/image/store.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const isRoot = process.getuid?.() === 0;
const hasSkopeo = spawnSync('skopeo', ['--version']).status === 0;

function run(cmd: string, args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

const fileHash = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex');

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

/** Starts hello and resolves once it printed its listening line. */
function startHello(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; out: () => string }> {
  return new Promise((res, rej) => {
    const child = spawn(bin, args, { env: { ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => rej(new Error(`hello did not start: ${out}`)), 5000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/hello: listening on :\d+/.test(out)) {
        clearTimeout(timer);
        res({ child, out: () => out });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`hello exited early (${code}): ${out}`));
    });
  });
}

const exitOf = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));

describe('hello image', { skip: isRoot ? false : 'needs root (rootfs is chowned to the sandbox id range)' }, () => {
  let work: string;
  let helloBin: string;
  let archive: string;
  const children: ChildProcess[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hangar-hello-'));
    helloBin = join(work, 'hello');
    const cc = run('gcc', ['-O2', '-Wall', '-Wextra', '-static', '-o', helloBin, join(REPO, 'native/hello.c')]);
    assert.equal(cc.stderr.trim(), '', 'hello.c compiles without warnings');
    archive = join(work, 'hello.oci.tar');
    run(process.execPath, [join(REPO, 'dist/scripts/make-hello-image.js'), archive, '--hello', helloBin]);
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  describe('the hello binary', () => {
    it('serves GET / on a loopback port given with --port', async () => {
      const port = await freePort();
      const { child, out } = await startHello(helloBin, ['--port', String(port)], { HELLO_TEST: 'yes' });
      children.push(child);
      assert.match(out(), new RegExp(`hello: listening on :${port}\\n`));
      const res = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('connection'), 'close');
      const body = await res.text();
      assert.equal(body, `Hello from hangar! (${hostname()})\n`);
      assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(body)));
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/hostname`)).text(), `${hostname()}\n`);
      assert.match(await (await fetch(`http://127.0.0.1:${port}/env`)).text(), /^HELLO_TEST=yes$/m);
      assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
      const bye = await fetch(`http://127.0.0.1:${port}/exit?code=3`);
      assert.equal(await bye.text(), 'bye (exit 3)\n');
      assert.deepEqual(await exitOf(child), { code: 3, signal: null });
      assert.match(out(), /hello: 127\.0\.0\.1 "GET \/" 200 \d+\n/);
    });

    it('takes PORT from the environment and exits 0 on SIGTERM', async () => {
      const port = await freePort();
      const { child } = await startHello(helloBin, [], { PORT: String(port) });
      children.push(child);
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
      child.kill('SIGTERM');
      assert.deepEqual(await exitOf(child), { code: 0, signal: null });
    });

    it('has test behaviours: --exit, --echo-args, --print-env, --crash-after-ms', async () => {
      const r = spawnSync(helloBin, ['--echo-args', '--print-env', '--exit', '7', 'extra'], { env: { FOO: 'bar' }, encoding: 'utf8' });
      assert.equal(r.status, 7);
      assert.match(r.stdout, /^hello: arg\[5\]=extra$/m);
      assert.match(r.stdout, /^FOO=bar$/m);
      const t0 = Date.now();
      const c = spawnSync(helloBin, ['--crash-after-ms', '150', '--port', '0'], { encoding: 'utf8', timeout: 5000 });
      assert.equal(c.status, 1);
      assert.ok(Date.now() - t0 >= 140);
    });
  });

  describe('import and resolve', () => {
    let storeRoot: string;
    let store: LocalImageStore;
    let digest: string;
    const logLines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void logLines.push(s) });
    const unpackCount = (): number => logLines.filter((l) => l.includes('unpacked image rootfs')).length;

    before(async () => {
      storeRoot = join(work, 'store');
      store = new LocalImageStore({ root: storeRoot, logger });
      await store.init();
    });

    it('builds a reproducible archive that skopeo accepts', { skip: hasSkopeo ? false : 'skopeo not installed' }, async () => {
      const again = join(work, 'again.oci.tar');
      run(process.execPath, [join(REPO, 'dist/scripts/make-hello-image.js'), again, '--hello', helloBin]);
      assert.equal(await fileHash(again), await fileHash(archive));
      const info = JSON.parse(run('skopeo', ['inspect', `oci-archive:${archive}`]).stdout) as { Digest: string; Architecture: string; Os: string; Env: string[] };
      assert.equal(info.Architecture, 'amd64');
      assert.equal(info.Os, 'linux');
      assert.deepEqual(info.Env, ['PATH=/bin']);
      const [rec] = await store.import(archive);
      assert.equal(rec!.digest, info.Digest);
    });

    it('imports the archive as hello:latest', async () => {
      const recs = await store.import(archive);
      assert.equal(recs.length, 1);
      const rec = recs[0]!;
      assert.equal(rec.ref, 'hello:latest');
      assert.match(rec.digest, /^sha256:[a-f0-9]{64}$/);
      assert.deepEqual(rec.config, { entrypoint: ['/hello'], cmd: [], env: ['PATH=/bin'], workingDir: '/', user: '' });
      assert.equal(rec.initrdOrRom, false);
      digest = rec.digest;
      const manifest = JSON.parse(await readFile(join(storeRoot, 'blobs/sha256', digestHex(digest)), 'utf8')) as { layers: { size: number }[] };
      assert.equal(rec.sizeBytes, manifest.layers.reduce((n, l) => n + l.size, 0));
      const tags = await store.registry.tags('hello');
      assert.deepEqual(tags.map((t) => [t.tag, t.digest]), [['latest', digest]]);
      assert.deepEqual(await readdir(join(storeRoot, 'rootfs')), [], 'unpacked lazily');
    });

    it('resolves hello, hello:latest, name@digest and registry-qualified names to one rootfs', async () => {
      const r = await store.resolve('hello');
      assert.equal(r.ref, 'hello:latest');
      assert.equal(r.digest, digest);
      assert.equal(r.rootfs, join(storeRoot, 'rootfs', digestHex(digest)));
      assert.deepEqual(r.config.entrypoint, ['/hello']);
      assert.equal((await store.resolve('hello:latest')).rootfs, r.rootfs);
      const byDigest = await store.resolve(`hello@${digest}`);
      assert.equal(byDigest.ref, `hello@${digest}`);
      assert.equal(byDigest.rootfs, r.rootfs);
      assert.equal((await store.resolve('localhost:5000/hello:latest')).rootfs, r.rootfs);
      assert.equal(unpackCount(), 1);
      await assert.rejects(store.resolve('hello:nope'), (e: unknown) => e instanceof HangarError && e.kind === 'not_found' && e.message === "image 'hello:nope' not found on this node");
      await assert.rejects(store.resolve(`hello@sha256:${'0'.repeat(64)}`), (e: unknown) => e instanceof HangarError && e.kind === 'not_found');
      await assert.rejects(store.resolve('other/hello'), (e: unknown) => e instanceof HangarError && e.kind === 'not_found');
      await assert.rejects(store.resolve('Bad'), (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument');
    });

    it('unpacks a rootfs with the image files, owned by sandbox root, and the runtime mount points', async () => {
      const { rootfs } = await store.resolve('hello');
      const top = await stat(rootfs);
      assert.equal(top.uid, SANDBOX_ID_BASE);
      assert.equal(top.gid, SANDBOX_ID_BASE);
      assert.equal(top.mode & 0o777, 0o755);
      const hello = await stat(join(rootfs, 'hello'));
      assert.ok(hello.isFile());
      assert.equal(hello.mode & 0o7777, 0o755);
      assert.equal(hello.uid, SANDBOX_ID_BASE);
      assert.equal(hello.gid, SANDBOX_ID_BASE);
      assert.equal(await fileHash(join(rootfs, 'hello')), await fileHash(helloBin));
      const bb = await stat(join(rootfs, 'bin/busybox'));
      assert.equal(bb.mode & 0o777, 0o755);
      assert.equal(await fileHash(join(rootfs, 'bin/busybox')), await fileHash('/bin/busybox'));
      assert.equal(await readlink(join(rootfs, 'bin/sh')), 'busybox');
      assert.equal((await lstat(join(rootfs, 'bin/sh'))).uid, SANDBOX_ID_BASE);
      for (const d of ['proc', 'dev', 'sys', 'tmp', 'run', 'etc']) {
        const st = await lstat(join(rootfs, d));
        assert.ok(st.isDirectory(), d);
        assert.equal(st.uid, SANDBOX_ID_BASE, d);
      }
      assert.equal((await stat(join(rootfs, 'tmp'))).mode & 0o7777, 0o1777);
      for (const f of ['etc/resolv.conf', 'etc/hosts', 'etc/hostname']) {
        const st = await lstat(join(rootfs, f));
        assert.ok(st.isFile(), f);
        assert.equal(st.uid, SANDBOX_ID_BASE, f);
      }
      // the static busybox in the rootfs runs
      assert.equal(run(join(rootfs, 'bin/busybox'), ['echo', 'hi']).stdout, 'hi\n');
      assert.deepEqual(await readdir(join(storeRoot, 'tmp')), []);
    });

    it('unpacks once: later resolves reuse the tree untouched', async () => {
      const { rootfs } = await store.resolve('hello');
      const before1 = await stat(rootfs);
      const before2 = await stat(join(rootfs, 'hello'));
      const again = await store.resolve('hello:latest');
      assert.equal(again.rootfs, rootfs);
      const after1 = await stat(rootfs);
      const after2 = await stat(join(rootfs, 'hello'));
      assert.equal(after1.ino, before1.ino);
      assert.equal(after1.mtimeMs, before1.mtimeMs);
      assert.equal(after1.ctimeMs, before1.ctimeMs);
      assert.equal(after2.ino, before2.ino);
      assert.equal(after2.ctimeMs, before2.ctimeMs);
      assert.equal(unpackCount(), 1);
    });

    it('unpacks once when many resolves race', async () => {
      const lines: string[] = [];
      const racer = new LocalImageStore({ root: join(work, 'race-store'), logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(s) }) });
      await racer.init();
      await racer.import(archive);
      const all = await Promise.all(Array.from({ length: 8 }, (_, i) => racer.resolve(i % 2 ? 'hello' : `hello@${digest}`)));
      assert.equal(new Set(all.map((r) => r.rootfs)).size, 1);
      assert.equal(lines.filter((l) => l.includes('unpacked image rootfs')).length, 1);
      assert.deepEqual(await readdir(join(work, 'race-store', 'tmp')), []);
    });

    it('imports the OCI layout directory skopeo makes of it', { skip: hasSkopeo ? false : 'skopeo not installed' }, async () => {
      // Default skopeo copy gzips the layer: a different manifest, same config and content.
      const gzDir = join(work, 'skopeo-gz');
      run('skopeo', ['copy', '-q', `oci-archive:${archive}`, `oci:${gzDir}:hello`]);
      const [gz] = await store.import(gzDir, { ref: 'hello:gz' });
      assert.equal(gz!.ref, 'hello:gz');
      assert.notEqual(gz!.digest, digest);
      assert.deepEqual(gz!.config, (await store.inspect('hello')).config);
      const gzRoot = (await store.resolve('hello:gz')).rootfs;
      assert.notEqual(gzRoot, (await store.resolve('hello')).rootfs);
      assert.equal(await fileHash(join(gzRoot, 'bin/busybox')), await fileHash('/bin/busybox'));
      assert.equal((await stat(join(gzRoot, 'hello'))).uid, SANDBOX_ID_BASE);

      // With --preserve-digests it is the very same image: same digest, shared rootfs.
      const sameDir = join(work, 'skopeo-same');
      run('skopeo', ['copy', '-q', '--preserve-digests', `oci-archive:${archive}`, `oci:${sameDir}:hello`]);
      const [same] = await store.import(sameDir, { ref: 'hello:same' });
      assert.equal(same!.digest, digest);
      assert.equal((await store.resolve('hello:same')).rootfs, (await store.resolve('hello')).rootfs);
      assert.equal(unpackCount(), 2, 'only the gzip variant needed a new rootfs');

      // Without a ref, skopeo's bare ref.name ("hello") is a tag for a name taken from the directory.
      const [named] = await store.import(sameDir);
      assert.equal(named!.ref, 'skopeo-same:hello');
      await store.remove('skopeo-same:hello');
    });

    it('lists and removes images, deleting what no tag uses any more', async () => {
      const refs = (await store.list()).map((r) => r.ref);
      assert.ok(refs.includes('hello:latest'));
      if (refs.includes('hello:gz')) {
        const gz = await store.inspect('hello:gz');
        const gzRoot = store.rootfsPath(gz.digest);
        const removed = await store.remove('hello:gz');
        assert.deepEqual(removed.map((r) => r.ref), ['hello:gz']);
        await assert.rejects(lstat(gzRoot), { code: 'ENOENT' });
        await assert.rejects(lstat(join(storeRoot, 'blobs/sha256', digestHex(gz.digest))), { code: 'ENOENT' });
        // the config blob is shared with hello:latest and stays
        assert.ok((await store.resolve('hello')).rootfs);
      }
      const rootfs = store.rootfsPath(digest);
      const removed = await store.remove(`hello@${digest}`);
      assert.ok(removed.some((r) => r.ref === 'hello:latest'));
      assert.deepEqual(await store.list(), []);
      await assert.rejects(lstat(rootfs), { code: 'ENOENT' });
      assert.deepEqual(await readdir(join(storeRoot, 'blobs/sha256')), []);
      assert.deepEqual(await readdir(join(storeRoot, 'rootfs')), []);
      await assert.rejects(store.resolve('hello'), (e: unknown) => e instanceof HangarError && e.kind === 'not_found' && e.message === "image 'hello' not found on this node");
      await assert.rejects(store.remove('hello'), (e: unknown) => e instanceof HangarError && e.kind === 'not_found');
    });

    it('refuses a truncated archive and leaves no ref', async () => {
      const whole = await readFile(archive);
      for (const cut of [Math.floor(whole.length / 2), whole.length - 1024 - 512, 700]) {
        const truncated = join(work, `truncated-${cut}.oci.tar`);
        await writeFile(truncated, whole.subarray(0, cut));
        await assert.rejects(store.import(truncated), (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument');
        assert.deepEqual(await store.list(), []);
        assert.deepEqual(await readdir(join(storeRoot, 'tmp')), []);
        assert.deepEqual(await readdir(join(storeRoot, 'blobs/sha256')), []);
      }
    });

    it('keeps refs across restarts and cleans leftovers at init', async () => {
      await store.import(archive);
      const { rootfs } = await store.resolve('hello');
      const ino = (await stat(rootfs)).ino;
      // what a crashed process might leave: a staging dir, a half-written blob, a verified-but-unreferenced blob, a rootfs without a ref
      await mkdir(join(storeRoot, 'tmp', 'import-999999999-abcdef', 'blobs'), { recursive: true });
      await writeFile(join(storeRoot, 'tmp', 'rootfs-999999999-abcdef'), 'x');
      const orphan = createHash('sha256').update('orphan').digest('hex');
      await writeFile(join(storeRoot, 'blobs/sha256', orphan), 'orphan');
      await writeFile(join(storeRoot, 'blobs/sha256', 'not-a-digest.tmp'), 'x');
      await mkdir(join(storeRoot, 'rootfs', 'f'.repeat(64)));

      const reopened = new LocalImageStore({ root: storeRoot });
      await reopened.init();
      assert.deepEqual((await reopened.list()).map((r) => r.ref), ['hello:latest']);
      assert.deepEqual(await readdir(join(storeRoot, 'tmp')), []);
      assert.deepEqual((await readdir(join(storeRoot, 'rootfs'))).sort(), [digestHex(digest)]);
      const blobs = await readdir(join(storeRoot, 'blobs/sha256'));
      assert.ok(!blobs.includes(orphan));
      assert.ok(!blobs.includes('not-a-digest.tmp'));
      assert.equal(blobs.length, 3, 'manifest, config, layer');
      const again = await reopened.resolve('hello');
      assert.equal(again.rootfs, rootfs);
      assert.equal((await stat(again.rootfs)).ino, ino, 'not unpacked again');
    });

    it('keeps the old image of a re-tagged ref until pruned', async () => {
      const other = join(work, 'other.oci.tar');
      const otherBin = join(work, 'hello-other');
      await writeFile(otherBin, Buffer.concat([await readFile(helloBin), Buffer.from('\n# different build\n')]));
      run(process.execPath, [join(REPO, 'dist/scripts/make-hello-image.js'), other, '--hello', otherBin]);
      const oldRootfs = (await store.resolve('hello')).rootfs;
      const [moved] = await store.import(other, { ref: 'hello:latest' });
      assert.notEqual(moved!.digest, digest);
      assert.equal((await store.inspect('hello')).digest, moved!.digest);
      // an instance may still run from the old tree: it stays (also across init) until prune()
      const reopened = new LocalImageStore({ root: storeRoot });
      await reopened.init();
      assert.ok((await stat(oldRootfs)).isDirectory());
      assert.deepEqual(await reopened.prune((d) => d === digest), []);
      assert.ok((await stat(oldRootfs)).isDirectory());
      assert.deepEqual(await reopened.prune(), [digest]);
      await assert.rejects(lstat(oldRootfs), { code: 'ENOENT' });
      await reopened.remove('hello');
      assert.deepEqual(await readdir(join(storeRoot, 'blobs/sha256')), []);
    });
  });
});
