import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { HangarError } from '../../../src/lib/errors.js';
import { digestHex, sha256 } from '../../../src/lib/digest.js';
import { MT } from '../../../src/oci/media-types.js';
import { nameFromPath } from '../../../src/image/naming.js';
import { buildOciImage, ociArchiveBytes, writeOciLayout, type BuiltOciImage, type OciImageInput } from '../../../src/image/oci-writer.js';
import { LocalImageStore } from '../../../src/image/store.js';
import { buildTar, type TarEntrySpec } from '../../../src/image/tar-writer.js';

const file = (path: string, data = path): TarEntrySpec => ({ path, type: 'file', data: Buffer.from(data) });

function image(over: Partial<OciImageInput> = {}): BuiltOciImage {
  return buildOciImage({
    layers: [{ blob: buildTar([file('app', 'v1')]) }, { blob: gzipSync(buildTar([file('data', 'd'.repeat(3000))])) }],
    config: { Entrypoint: ['/app'], Cmd: ['--flag'], Env: ['A=1'], WorkingDir: '/w', User: '1000:1000' },
    refName: 'latest',
    ...over,
  });
}

const isInvalid =
  (re: RegExp) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof HangarError, `expected a HangarError, got ${String(e)}`);
    assert.equal(e.kind, 'invalid_argument', e.message);
    assert.match(e.message, re);
    return true;
  };

describe('LocalImageStore.import validation', () => {
  let work: string;
  let store: LocalImageStore;
  let root: string;
  let n = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hangar-import-'));
    root = join(work, 'store');
    store = new LocalImageStore({ root });
    await store.init();
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const layoutDir = async (img: BuiltOciImage, name = `app-${++n}`): Promise<string> => {
    const dir = join(work, name);
    await writeOciLayout(img, dir);
    return dir;
  };

  /** Nothing visible in the store: no tag, no repository, no blob, no rootfs, no temp or upload leftovers. */
  async function assertEmpty(): Promise<void> {
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await readdir(join(root, 'blobs', 'sha256')), []);
    assert.deepEqual(await readdir(join(root, 'rootfs')), []);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.deepEqual(await store.registry.repositories(), []);
    assert.deepEqual(await readdir(join(root, 'uploads')), []);
  }

  it('refuses a layer whose content does not match its digest, and stores nothing (layout dir)', async () => {
    const img = image();
    const dir = await layoutDir(img);
    const layer = [...img.blobs.keys()][0]!;
    const p = join(dir, 'blobs', 'sha256', digestHex(layer));
    const bytes = await readFile(p);
    bytes[bytes.length - 1024 - 1] = bytes[bytes.length - 1024 - 1]! ^ 0x01; // same size, different content
    await writeFile(p, bytes);
    await assert.rejects(store.import(dir), isInvalid(/digest mismatch/));
    await assertEmpty();
  });

  it('refuses a digest mismatch in an oci-archive, and stores nothing', async () => {
    const img = image();
    const layer = [...img.blobs.keys()][1]!;
    const tampered = Buffer.from(img.blobs.get(layer)!);
    tampered[tampered.length - 10] = tampered[tampered.length - 10]! ^ 0x01; // same size, different content
    img.blobs.set(layer, tampered);
    const archive = join(work, 'tampered.oci.tar');
    await writeFile(archive, ociArchiveBytes(img));
    await assert.rejects(store.import(archive), isInvalid(/layer 1 blob digest mismatch/));
    await assertEmpty();
    // and a manifest that no longer matches its digest (here: its size)
    const img2 = image();
    img2.blobs.set(img2.manifestDigest, Buffer.from(img2.blobs.get(img2.manifestDigest)!.toString().replace('"schemaVersion":2', '"schemaVersion": 2')));
    const archive2 = join(work, 'tampered2.oci.tar');
    await writeFile(archive2, ociArchiveBytes(img2));
    await assert.rejects(store.import(archive2), isInvalid(/manifest blob .* bytes, its descriptor says/));
    await assertEmpty();
  });

  it('refuses a config that does not match its digest', async () => {
    const img = image();
    const dir = await layoutDir(img);
    const p = join(dir, 'blobs', 'sha256', digestHex(img.configDigest));
    const cfg = await readFile(p, 'utf8');
    await writeFile(p, cfg.replace('/app', '/evl'));
    await assert.rejects(store.import(dir), isInvalid(/config blob digest mismatch/));
    await assertEmpty();
  });

  it('refuses a blob whose size differs from its descriptor', async () => {
    const img = image();
    const dir = await layoutDir(img);
    await appendFile(join(dir, 'blobs', 'sha256', digestHex([...img.blobs.keys()][0]!)), 'x');
    await assert.rejects(store.import(dir), isInvalid(/bytes, its descriptor says/));
    await assertEmpty();
  });

  it('refuses a missing blob', async () => {
    const img = image();
    const dir = await layoutDir(img);
    await rm(join(dir, 'blobs', 'sha256', digestHex([...img.blobs.keys()][1]!)));
    await assert.rejects(store.import(dir), isInvalid(/missing from the layout/));
    await assertEmpty();
  });

  it("refuses layers that do not match the config's diff_ids", async () => {
    const img = image({ configOverride: { rootfs: { type: 'layers', diff_ids: [sha256('a'), sha256('b')] } } });
    await assert.rejects(store.import(await layoutDir(img)), isInvalid(/diff_id/));
    await assertEmpty();
    const short = image({ configOverride: { rootfs: { type: 'layers', diff_ids: [sha256('a')] } } });
    await assert.rejects(store.import(await layoutDir(short)), isInvalid(/1 diff_ids for 2 layers/));
    await assertEmpty();
  });

  it('refuses layers with path traversal at import time', async () => {
    const evil = buildOciImage({ layers: [{ blob: buildTar([file('ok'), file('../../etc/cron.d/evil')]) }], config: {}, refName: 'latest' });
    await assert.rejects(store.import(await layoutDir(evil)), isInvalid(/'\.\.\/\.\.\/etc\/cron\.d\/evil' refused/));
    const abs = buildOciImage({ layers: [{ blob: gzipSync(buildTar([file('/etc/passwd')])) }], config: {}, refName: 'latest' });
    await assert.rejects(store.import(await layoutDir(abs)), isInvalid(/absolute path/));
    const link = buildOciImage({ layers: [{ blob: buildTar([{ path: 'h', type: 'hardlink', linkpath: '../x' }]) }], config: {}, refName: 'latest' });
    await assert.rejects(store.import(await layoutDir(link)), isInvalid(/hardlink target/));
    await assertEmpty();
  });

  it('refuses images for another platform', async () => {
    const arm = image({ architecture: 'arm64' });
    await assert.rejects(store.import(await layoutDir(arm)), isInvalid(/linux\/arm64/));
    await assertEmpty();
  });

  it('refuses malformed layouts', async () => {
    const dir = join(work, 'broken');
    await mkdir(dir);
    await assert.rejects(store.import(dir), isInvalid(/index\.json is missing/));
    await writeFile(join(dir, 'index.json'), '{not json');
    await assert.rejects(store.import(dir), isInvalid(/index\.json is not valid JSON/));
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    await assert.rejects(store.import(dir), isInvalid(/lists no image manifests/));
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MT.ociManifest, digest: 'md5:abc', size: 1 }] }));
    await assert.rejects(store.import(dir), isInvalid(/digest/));
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '2.0.0' }));
    await assert.rejects(store.import(dir), isInvalid(/imageLayoutVersion/));
    await assertEmpty();
  });

  it('refuses files that are not OCI archives', async () => {
    const junk = join(work, 'junk.tar');
    await writeFile(junk, Buffer.alloc(4096, 0x41));
    await assert.rejects(store.import(junk), isInvalid(/not a valid OCI archive/));
    const empty = join(work, 'empty.tar');
    await writeFile(empty, '');
    await assert.rejects(store.import(empty), isInvalid(/not a valid OCI archive/));
    const plain = join(work, 'plain.tar');
    await writeFile(plain, buildTar([file('hello.txt')]));
    await assert.rejects(store.import(plain), isInvalid(/no index\.json/));
    const evil = join(work, 'evil.tar');
    await writeFile(evil, buildTar([file('../index.json', '{}')]));
    await assert.rejects(store.import(evil), isInvalid(/contains '\.\.'/));
    await assert.rejects(store.import(join(work, 'does-not-exist.tar')), isInvalid(/does not exist/));
    await assertEmpty();
  });

  it('refuses a bad ref option', async () => {
    const dir = await layoutDir(image());
    await assert.rejects(store.import(dir, { ref: 'Bad:Ref' }), (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument' && e.field === 'ref');
    await assert.rejects(store.import(dir, { ref: `x@sha256:${'a'.repeat(64)}` }), (e: unknown) => e instanceof HangarError && e.field === 'ref');
    await assertEmpty();
  });

  it('names images from annotations, the ref option, or the file name', async () => {
    const a = await store.import(await layoutDir(image(), 'webapp.oci'));
    assert.deepEqual(a.map((r) => r.ref), ['webapp:latest']);
    const b = await store.import(await layoutDir(image({ refName: 'v2' }), 'webapp'));
    assert.deepEqual(b.map((r) => r.ref), ['webapp:v2']);
    const c = await store.import(await layoutDir(image({ refName: 'localhost:5000/team/web:3' })));
    assert.deepEqual(c.map((r) => r.ref), ['localhost:5000/team/web:3']);
    const d = await store.import(await layoutDir(image({ indexAnnotations: { 'io.containerd.image.name': 'docker.io/library/redis:7' } })));
    assert.deepEqual(d.map((r) => r.ref), ['redis:7']);
    const e = await store.import(await layoutDir(image({ refName: 'ignored' })), { ref: 'chosen' });
    assert.deepEqual(e.map((r) => r.ref), ['chosen:latest']);
    assert.equal(a[0]!.digest, b[0]!.digest);
    const layers = [...image().blobs.values()].slice(0, 2); // layers come first
    assert.equal(a[0]!.sizeBytes, layers[0]!.length + layers[1]!.length);
    assert.deepEqual(a[0]!.config, { entrypoint: ['/app'], cmd: ['--flag'], env: ['A=1'], workingDir: '/w', user: '1000:1000' });
    assert.deepEqual(
      (await store.list()).map((r) => r.ref),
      ['chosen:latest', 'localhost:5000/team/web:3', 'redis:7', 'webapp:latest', 'webapp:v2'],
    );
    const found = await store.inspect('localhost:5000/redis:7');
    assert.equal(found.ref, 'redis:7');
    for (const r of await store.list()) await store.remove(r.ref);
    await assertEmpty();
  });

  it('picks the linux/amd64 image from an index of manifests (nested or top-level)', async () => {
    const amd = image();
    const arm = image({ architecture: 'arm64', layers: [{ blob: buildTar([file('arm')]) }] });
    const dir = join(work, 'multi');
    await writeOciLayout(amd, dir);
    for (const [d, b] of arm.blobs) await writeFile(join(dir, 'blobs', 'sha256', digestHex(d)), b);
    const entries = [
      { mediaType: MT.ociManifest, digest: arm.manifestDigest, size: arm.manifestSize, platform: { os: 'linux', architecture: 'arm64' } },
      { mediaType: MT.ociManifest, digest: amd.manifestDigest, size: amd.manifestSize, platform: { os: 'linux', architecture: 'amd64' } },
    ];
    const nested = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: entries }));
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(sha256(nested))), nested);
    const writeIndex = (manifests: object[]): Promise<void> => writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));

    await writeIndex([{ mediaType: MT.ociIndex, digest: sha256(nested), size: nested.length, annotations: { 'org.opencontainers.image.ref.name': 'multi:1' } }]);
    const [viaNested] = await store.import(dir);
    assert.equal(viaNested!.ref, 'multi:1');
    assert.equal(viaNested!.digest, amd.manifestDigest);

    await writeIndex(entries.map((e) => ({ ...e, annotations: { 'org.opencontainers.image.ref.name': 'multi:2' } })));
    const [topLevel] = await store.import(dir);
    assert.equal(topLevel!.ref, 'multi:2');
    assert.equal(topLevel!.digest, amd.manifestDigest);

    await writeIndex([entries[0]!]);
    await assert.rejects(store.import(dir), isInvalid(/no linux\/amd64 image \(has: linux\/arm64\)/));
    const onlyArm = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [entries[0]] }));
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(sha256(onlyArm))), onlyArm);
    await writeIndex([{ mediaType: MT.ociIndex, digest: sha256(onlyArm), size: onlyArm.length }]);
    await assert.rejects(store.import(dir), isInvalid(/has no linux\/amd64 image/));

    await store.remove('multi:1');
    await store.remove('multi:2');
    await assertEmpty();
  });

  it('derives names from paths', () => {
    assert.equal(nameFromPath('/x/hello.oci.tar'), 'hello');
    assert.equal(nameFromPath('/x/My-App.tar'), 'my-app');
    assert.equal(nameFromPath('/x/layout/'), 'layout');
    assert.equal(nameFromPath('/x/bad name!.tar'), undefined);
  });
});
