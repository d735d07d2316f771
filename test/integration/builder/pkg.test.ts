/**
 * Packaging: ROM-only packages from a folder (EROFS checked by fsck.erofs and
 * dump.erofs, CPIO by busybox cpio), both 4096-aligned raw layers of type
 * application/vnd.unikraft.rom.v1; a built image re-packaged with its rootfs as
 * CPIO beside the runnable manifest; reproducible output; FROM runtimes/<name>
 * pulled from a (loopback) registry when one is given.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildProject, pkg, runtimeLayout } from '../../../src/builder/index.js';
import { Buildah } from '../../../src/builder/buildah.js';
import { blobPath, readOciLayout } from '../../../src/image/oci-layout.js';
import { BUILD_CACHE, EXAMPLES, isRoot } from './cache.js';

const ROM_MT = 'application/vnd.unikraft.rom.v1';
const json = async (p: string): Promise<Record<string, any>> => JSON.parse(await readFile(p, 'utf8')) as Record<string, any>;
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

async function manifestOf(layout: string): Promise<{ index: Record<string, any>; manifest: Record<string, any> }> {
  const index = await json(join(layout, 'index.json'));
  const manifest = await json(blobPath(layout, index['manifests'][0].digest));
  return { index, manifest };
}

let work: string;

describe('pkg', { skip: isRoot ? false : 'needs root (buildah, mkfs.erofs)' }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hangar-pkg-'));
    await mkdir(join(work, 'rom1', 'fs', 'lib'), { recursive: true });
    await writeFile(join(work, 'rom1', 'fs', 'rom.go'), 'package main\n\nfunc Handler() string { return "Bye, World!\\n" }\n');
    await writeFile(join(work, 'rom1', 'fs', 'lib', 'data.txt'), 'x'.repeat(5000));
    await writeFile(join(work, 'rom1', 'Kraftfile'), 'spec: v0.7\ntargets: [kraftcloud/x86_64]\nroms: [./fs]\n');
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('a ROM-only folder (Kraftfile with roms) → one raw, 4096-aligned EROFS layer that fsck.erofs accepts', async () => {
    const r = await buildProject(join(work, 'rom1'), { cacheDir: BUILD_CACHE, outDir: join(work, 'out-rom1'), name: 'go-rom1:v1' });
    assert.equal(r.kind, 'rom');
    assert.equal(r.ref, 'go-rom1:v1');
    const { index, manifest } = await manifestOf(r.layoutDir);
    assert.equal(index['manifests'][0].annotations['org.opencontainers.image.ref.name'], 'v1');
    assert.deepEqual(index['manifests'][0].platform, { os: 'kraftcloud', architecture: 'x86_64' });
    assert.equal(manifest['layers'].length, 1);
    const layer = manifest['layers'][0];
    assert.equal(layer.mediaType, ROM_MT);
    assert.equal(layer.size % 4096, 0);
    assert.equal(layer.annotations['org.unikraft.filesystem'], 'erofs');
    assert.equal(layer.annotations['org.opencontainers.image.title'], 'fs');
    assert.equal(manifest['annotations']['org.unikraft.image.name'], 'go-rom1:v1');
    const blob = blobPath(r.layoutDir, layer.digest);
    if (has('fsck.erofs')) {
      const fsck = spawnSync('fsck.erofs', [blob], { encoding: 'utf8' });
      assert.equal(fsck.status, 0, fsck.stderr + fsck.stdout);
    }
    if (has('dump.erofs')) {
      const dump = spawnSync('dump.erofs', ['--path=/rom.go', blob], { encoding: 'utf8' });
      assert.equal(dump.status, 0, dump.stderr);
      assert.match(dump.stdout, /Size:\s+\d+/);
    }
  });

  it('pkg --rom <dir> --rom-type cpio → a 4096-aligned newc archive busybox cpio can list', async () => {
    const r = await pkg({ name: 'go-rom1-cpio', roms: [join(work, 'rom1', 'fs')], romType: 'cpio', outDir: join(work, 'out-cpio'), cacheDir: BUILD_CACHE });
    assert.equal(r.kind, 'rom');
    const { manifest } = await manifestOf(r.layoutDir);
    const layer = manifest['layers'][0];
    assert.equal(layer.mediaType, ROM_MT);
    assert.equal(layer.size % 4096, 0);
    assert.equal(layer.annotations['org.unikraft.filesystem'], 'cpio');
    const list = spawnSync('sh', ['-c', `busybox cpio -t < ${blobPath(r.layoutDir, layer.digest)}`], { encoding: 'utf8' });
    assert.deepEqual(list.stdout.trim().split('\n'), ['lib', 'lib/data.txt', 'rom.go']);
  });

  it('pkg refuses other formats and missing ROM folders with one line', async () => {
    await assert.rejects(pkg({ name: 'x', as: 'docker', roms: ['.'] }), /^.*packaging format 'docker' is not supported by hangar \(use --as oci\)$/);
    await assert.rejects(pkg({ name: 'x', roms: [join(work, 'nope')], outDir: join(work, 'out-nope') }), /ROM source '.*nope' does not exist/);
    assert.equal(existsSync(join(work, 'out-nope')), false);
  });

  it('hello is reproducible, and --rootfs-type cpio adds a kraftcloud/x86_64 initrd manifest the node skips', async () => {
    // created is the build time unless fixed; fixed, the whole image is reproducible.
    const a = await buildProject(join(EXAMPLES, 'hello'), { cacheDir: BUILD_CACHE, outDir: join(work, 'hello-a'), created: 1700000000 });
    const b = await buildProject(join(EXAMPLES, 'hello'), { cacheDir: BUILD_CACHE, outDir: join(work, 'hello-b'), created: 1700000000 });
    assert.equal(a.manifestDigest, b.manifestDigest, 'same inputs, same image');
    const p = await pkg({ name: '127.0.0.1:5000/examples/hello:v2', from: a.layoutDir, rootfsType: 'cpio', outDir: join(work, 'hello-uk'), archive: join(work, 'hello-uk.oci.tar') });
    assert.ok(p.indexDigest);
    assert.equal(p.rootfs?.format, 'cpio');
    assert.equal(p.rootfs.size % 4096, 0);
    const [img] = await readOciLayout(p.layoutDir);
    assert.equal(img?.configDescriptor.digest, a.configDigest, 'the node still gets the linux/amd64 image');
    assert.deepEqual(img.layers.map((l) => l.digest), (await readOciLayout(a.layoutDir))[0]!.layers.map((l) => l.digest));
    const index = await json(join(p.layoutDir, 'index.json'));
    assert.equal(index['manifests'][0].annotations['io.containerd.image.name'], '127.0.0.1:5000/examples/hello:v2');
    const nested = await json(blobPath(p.layoutDir, index['manifests'][0].digest));
    assert.deepEqual(nested['manifests'].map((m: any) => `${m.platform.os}/${m.platform.architecture}`), ['linux/amd64', 'kraftcloud/x86_64']);
    const uk = await json(blobPath(p.layoutDir, nested['manifests'][1].digest));
    assert.equal(uk['layers'][0].annotations['org.unikraft.kernel.initrd'], '/unikraft/bin/initrd');
    const config = await json(blobPath(p.layoutDir, uk['config'].digest));
    assert.deepEqual(config['config'].Cmd, ['/hello']);
    const list = spawnSync('tar', ['-tf', blobPath(p.layoutDir, uk['layers'][0].digest)], { encoding: 'utf8' });
    assert.equal(list.stdout.trim(), 'unikraft/bin/initrd');
    const archive = spawnSync('tar', ['-tf', join(work, 'hello-uk.oci.tar')], { encoding: 'utf8' });
    assert.match(archive.stdout, /^oci-layout\nindex\.json\nblobs\/\nblobs\/sha256\/\n/);
  });

  describe('FROM runtimes/<name> with the node registry given', { skip: has('docker-registry') ? false : 'docker-registry (Debian) is not installed' }, () => {
    let registry: ChildProcess | undefined;
    let address = '';
    before(async () => {
      const port = await new Promise<number>((res, rej) => {
        const s = createServer();
        s.once('error', rej);
        s.listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => res(p));
        });
      });
      address = `127.0.0.1:${port}`;
      const cfg = join(work, 'registry.yml');
      await writeFile(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'registry')}\nhttp:\n  addr: ${address}\n`);
      registry = spawn('docker-registry', ['serve', cfg], { stdio: 'ignore' });
      for (let i = 0; i < 100; i++) {
        const ok = await fetch(`http://${address}/v2/`).then((r) => r.ok).catch(() => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const layout = await runtimeLayout('base', { cacheDir: BUILD_CACHE });
      const cp = spawnSync('skopeo', ['copy', '--quiet', '--insecure-policy', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${address}/runtimes/base:latest`], { encoding: 'utf8' });
      assert.equal(cp.status, 0, cp.stderr);
    });
    after(() => {
      registry?.kill('SIGTERM');
    });

    it('pulls the runtime from the registry (no fallback note) and builds on it', async () => {
      const dir = join(work, 'from-registry');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'Dockerfile'), 'FROM runtimes/base\nRUN echo built-on-base > /marker\nCMD ["/bin/cat", "/marker"]\n');
      const r = await buildProject(dir, { cacheDir: BUILD_CACHE, outDir: join(work, 'out-reg'), registry: { address } });
      assert.deepEqual(r.notes, []);
      assert.deepEqual(r.config['Cmd'], ['/bin/cat', '/marker']);
      const [img] = await readOciLayout(r.layoutDir);
      assert.equal(img?.layers.length, 3, 'skeleton + busybox + the RUN layer');
      const images = await new Buildah(join(BUILD_CACHE, 'buildah')).images();
      assert.ok(images.every((i) => i.startsWith('localhost/runtimes/')), `the registry name is not kept: ${images.join(', ')}`);
    });
  });
});

