/**
 * The node's /v2/ registry with real clients (skopeo, buildah) and raw HTTP:
 * push/pull round trips with equal digests, a pushed image run as an
 * instance, chunked uploads, ranges, mounts, paging, referrers, Unikraft-style
 * raw blobs, deletion and garbage collection.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MT } from '../../../src/oci/media-types.js';
import { buildTar } from '../../../src/image/tar-writer.js';
import { HELLO_ARCHIVE, eventually, httpGet, startTestNode, type TestNode } from '../../helpers/node.js';
import { hasCmd, pushBlob, pushManifest, pushSmallImage, run, sha, v2Client, type V2 } from './v2.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root' : !hasCmd('skopeo') ? 'skopeo not installed' : false;

describe('node registry interop', { skip }, () => {
  let t: TestNode;
  let v2: V2;
  let host: string;
  let work: string;
  let creds: string;

  before(async () => {
    t = await startTestNode();
    v2 = v2Client(t.url, t.token);
    host = new URL(t.url).host;
    creds = `admin:${t.token}`;
    work = mkdtempSync(join(tmpdir(), 'hangar-reg-'));
  });
  after(async () => {
    rmSync(work, { recursive: true, force: true });
    await t?.close();
  });

  const archiveDigest = async (): Promise<string> => (JSON.parse(await run('skopeo', ['inspect', `oci-archive:${HELLO_ARCHIVE}`])) as { Digest: string }).Digest;

  it('asks for credentials the docker way and hands out the node token', async () => {
    const anon = await v2('GET', '/v2/', { auth: null });
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get('www-authenticate'), `Bearer realm="${t.url}/v2/token",service="hangar"`);
    assert.equal(anon.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.equal(anon.json.errors[0].code, 'UNAUTHORIZED');
    assert.equal((await v2('GET', '/v2/token', { auth: null })).status, 401);
    const basic = `Basic ${Buffer.from(creds).toString('base64')}`;
    const tok = await v2('GET', '/v2/token?service=hangar&scope=repository:x:pull', { auth: basic });
    assert.equal(tok.status, 200);
    assert.equal(tok.json.token, t.token);
    assert.equal(tok.json.access_token, t.token);
    for (const auth of [`Bearer ${t.token}`, basic, `Bearer ${Buffer.from(creds).toString('base64')}`]) {
      const ok = await v2('GET', '/v2/', { auth });
      assert.equal(ok.status, 200, auth);
      assert.deepEqual(ok.json, {});
    }
  });

  it('skopeo copies an image in and out with the same digest (oci-archive, dir, inspect)', async () => {
    const digest = await archiveDigest();
    await run('skopeo', ['copy', '-q', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds, `oci-archive:${HELLO_ARCHIVE}`, `docker://${host}/library/hello:v1`]);
    const info = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${host}/library/hello:v1`])) as { Digest: string; Architecture: string };
    assert.equal(info.Digest, digest);
    assert.equal(info.Architecture, 'amd64');
    // --registry-token sends the node token as a bearer token directly
    const byToken = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--registry-token', t.token, `docker://${host}/library/hello:v1`])) as { Digest: string };
    assert.equal(byToken.Digest, digest);

    const out = join(work, 'out.oci.tar');
    await run('skopeo', ['copy', '-q', '--preserve-digests', '--src-tls-verify=false', '--src-creds', creds, `docker://${host}/library/hello:v1`, `oci-archive:${out}`]);
    assert.equal((JSON.parse(await run('skopeo', ['inspect', `oci-archive:${out}`])) as { Digest: string }).Digest, digest);
    const dir = join(work, 'out-dir');
    await run('skopeo', ['copy', '-q', '--preserve-digests', '--src-tls-verify=false', '--src-creds', creds, `docker://${host}/library/hello:v1`, `dir:${dir}`]);
    assert.equal(sha(readFileSync(join(dir, 'manifest.json'))), digest);
    // a second push of the same image stores nothing twice
    const before = readdirSync(join(t.config.home, 'images', 'blobs', 'sha256')).length;
    await run('skopeo', ['copy', '-q', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds, `oci-archive:${HELLO_ARCHIVE}`, `docker://${host}/library/hello:v2`]);
    assert.equal(readdirSync(join(t.config.home, 'images', 'blobs', 'sha256')).length, before);
  });

  it('runs an instance from the pushed image', async () => {
    for (const image of ['library/hello:v1', `${host}/library/hello:v1`]) {
      const r = await t.api('POST', '/v1/instances', { image, timeout_s: 10 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const inst = r.items[0]!;
      assert.equal(inst['state'], 'running', JSON.stringify(inst));
      const res = await eventually(() => httpGet(String(inst['private_ip']), 8080, '/', 2000).catch(() => undefined), 10_000);
      assert.equal(res.status, 200);
      assert.match(res.body, /Hello from hangar!/);
    }
  });

  it('buildah pushes an image it pulled', { skip: hasCmd('buildah') ? false : 'buildah not installed' }, async () => {
    const root = join(work, 'buildah-root');
    const runroot = join(work, 'buildah-runroot');
    const b = ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs'];
    try {
      const id = (await run('buildah', [...b, 'pull', '-q', `oci-archive:${HELLO_ARCHIVE}`])).trim().split('\n').pop()!;
      await run('buildah', [...b, 'push', '-q', '--tls-verify=false', '--creds', creds, id, `docker://${host}/x/y:z`]);
      const info = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${host}/x/y:z`])) as { Layers: string[]; Architecture: string };
      assert.equal(info.Architecture, 'amd64');
      assert.equal(info.Layers.length, 1);
    } finally {
      await run('buildah', [...b, 'rm', '--all']);
      await spawnRmi(b);
      rmSync(root, { recursive: true, force: true });
      rmSync(runroot, { recursive: true, force: true });
    }
  });

  it('takes chunked uploads, refuses out-of-order chunks with the Range it holds, and reports status', async () => {
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const start = await v2('POST', '/v2/chunks/app/blobs/uploads/');
    assert.equal(start.status, 202);
    const loc = start.headers.get('location')!;
    assert.match(loc, /^\/v2\/chunks\/app\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.equal(start.headers.get('range'), '0-0');
    const chunk = async (from: number, to: number): Promise<Awaited<ReturnType<V2>>> =>
      v2('PATCH', loc, { body: data.subarray(from, to), headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` } });
    let r = await chunk(0, 100_000);
    assert.equal(r.status, 202);
    assert.equal(r.headers.get('range'), '0-99999');
    r = await chunk(150_000, 200_000); // a gap
    assert.equal(r.status, 416);
    assert.equal(r.headers.get('range'), '0-99999');
    r = await chunk(50_000, 120_000); // overlaps what is there
    assert.equal(r.status, 416);
    r = await chunk(100_000, 200_000);
    assert.equal(r.status, 202);
    const status = await v2('GET', loc);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-199999');
    assert.equal((await v2('HEAD', `/v2/chunks/app/blobs/${sha(data)}`)).status, 404, 'not visible before the upload completes');
    // the last chunk rides on the PUT
    r = await v2('PUT', `${loc}?digest=${sha(data)}`, { body: data.subarray(200_000), headers: { 'content-range': '200000-299999' } });
    assert.equal(r.status, 201, r.body.toString());
    assert.equal(r.headers.get('docker-content-digest'), sha(data));
    assert.equal(r.headers.get('location'), `/v2/chunks/app/blobs/${sha(data)}`);
    const got = await v2('GET', `/v2/chunks/app/blobs/${sha(data)}`);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(data));
    assert.equal((await v2('GET', loc)).status, 404, 'the session is gone');
  });

  it('serves byte ranges', async () => {
    const data = Buffer.from('0123456789abcdefghij');
    const digest = await pushBlob(v2, 'ranges/r', data);
    const path = `/v2/ranges/r/blobs/${digest}`;
    const head = await v2('HEAD', path);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '20');
    assert.equal(head.headers.get('docker-content-digest'), digest);
    let r = await v2('GET', path, { headers: { range: 'bytes=5-9' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), 'bytes 5-9/20');
    assert.equal(r.body.toString(), '56789');
    r = await v2('GET', path, { headers: { range: 'bytes=15-' } });
    assert.equal(r.body.toString(), 'fghij');
    r = await v2('GET', path, { headers: { range: 'bytes=-3' } });
    assert.equal(r.body.toString(), 'hij');
    r = await v2('GET', path, { headers: { range: 'bytes=20-30' } });
    assert.equal(r.status, 416);
    assert.equal(r.headers.get('content-range'), 'bytes */20');
  });

  it('mounts blobs across repositories, and falls back to an upload when it cannot', async () => {
    const data = Buffer.from('shared layer bytes');
    const digest = await pushBlob(v2, 'mount/src', data);
    let r = await v2('POST', `/v2/mount/dst/blobs/uploads/?mount=${digest}&from=mount/src`);
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('location'), `/v2/mount/dst/blobs/${digest}`);
    assert.equal((await v2('GET', `/v2/mount/dst/blobs/${digest}`)).body.toString(), 'shared layer bytes');
    r = await v2('POST', `/v2/mount/other/blobs/uploads/?mount=${digest}&from=mount/nothing-here`);
    assert.equal(r.status, 202);
    assert.match(r.headers.get('location')!, /\/blobs\/uploads\//);
    assert.equal((await v2('DELETE', r.headers.get('location')!)).status, 204);
    r = await v2('POST', `/v2/mount/other/blobs/uploads/?mount=${sha('never pushed')}&from=mount/src`);
    assert.equal(r.status, 202);
    assert.equal((await v2('DELETE', r.headers.get('location')!)).status, 204);
  });

  it('lists tags and the catalog in pages with Link headers', async () => {
    const img = await pushSmallImage(v2, 'paging/app', { a: 'a' });
    for (const tag of ['t1', 't2', 't3', 't4', 't5']) assert.equal((await pushManifest(v2, 'paging/app', tag, img.manifestBytes)).status, 201);
    let r = await v2('GET', '/v2/paging/app/tags/list?n=2');
    assert.deepEqual(r.json, { name: 'paging/app', tags: ['t1', 't2'] });
    assert.equal(r.headers.get('link'), '</v2/paging/app/tags/list?n=2&last=t2>; rel="next"');
    r = await v2('GET', '/v2/paging/app/tags/list?n=2&last=t2');
    assert.deepEqual(r.json.tags, ['t3', 't4']);
    r = await v2('GET', '/v2/paging/app/tags/list?n=2&last=t4');
    assert.deepEqual(r.json.tags, ['t5']);
    assert.equal(r.headers.get('link'), null);
    assert.deepEqual((await v2('GET', '/v2/paging/app/tags/list')).json.tags, ['t1', 't2', 't3', 't4', 't5']);
    assert.equal((await v2('GET', '/v2/paging/none/tags/list')).json.errors[0].code, 'NAME_UNKNOWN');

    for (const repo of ['paging/c1', 'paging/c2']) await pushManifest(v2, repo, 'x', (await pushSmallImage(v2, repo, { b: repo })).manifestBytes);
    const all = (await v2('GET', '/v2/_catalog')).json.repositories as string[];
    assert.ok(['library/hello', 'paging/app', 'paging/c1', 'paging/c2'].every((x) => all.includes(x)), all.join(','));
    assert.deepEqual([...all].sort(), all);
    const seen: string[] = [];
    let next: string | null = '/v2/_catalog?n=2';
    while (next) {
      const p: Awaited<ReturnType<V2>> = await v2('GET', next);
      assert.ok(p.json.repositories.length <= 2);
      seen.push(...(p.json.repositories as string[]));
      next = /<([^>]+)>; rel="next"/.exec(p.headers.get('link') ?? '')?.[1] ?? null;
    }
    assert.deepEqual(seen, all);
  });

  it('answers the referrers API and sets OCI-Subject', async () => {
    const subject = await pushSmallImage(v2, 'refs/app', { app: 'v1' });
    assert.equal((await pushManifest(v2, 'refs/app', 'v1', subject.manifestBytes)).status, 201);
    const empty = Buffer.from('{}');
    await pushBlob(v2, 'refs/app', empty);
    const artifact = (artifactType: string, note: string): Buffer =>
      Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        artifactType,
        config: { mediaType: MT.ociEmpty, digest: sha(empty), size: 2 },
        layers: [{ mediaType: MT.ociEmpty, digest: sha(empty), size: 2 }],
        subject: { mediaType: MT.ociManifest, digest: subject.digest, size: subject.manifestBytes.length },
        annotations: { note },
      }));
    const sig = artifact('application/vnd.example.signature', 'sig');
    const sbom = artifact('application/spdx+json', 'sbom');
    for (const a of [sig, sbom]) {
      const r = await pushManifest(v2, 'refs/app', sha(a), a);
      assert.equal(r.status, 201, r.body.toString());
      assert.equal(r.headers.get('oci-subject'), subject.digest);
    }
    let r = await v2('GET', `/v2/refs/app/referrers/${subject.digest}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), MT.ociIndex);
    assert.equal(r.json.mediaType, MT.ociIndex);
    assert.deepEqual((r.json.manifests as Array<{ digest: string }>).map((m) => m.digest).sort(), [sha(sig), sha(sbom)].sort());
    const sigDesc = (r.json.manifests as Array<Record<string, unknown>>).find((m) => m['digest'] === sha(sig))!;
    assert.deepEqual(sigDesc, { mediaType: MT.ociManifest, digest: sha(sig), size: sig.length, artifactType: 'application/vnd.example.signature', annotations: { note: 'sig' } });
    r = await v2('GET', `/v2/refs/app/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`);
    assert.equal(r.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual((r.json.manifests as Array<{ digest: string }>).map((m) => m.digest), [sha(sbom)]);
    r = await v2('GET', `/v2/refs/app/referrers/${sha('nothing')}`);
    assert.deepEqual(r.json.manifests, []);
    // referrers of a live image survive gc although untagged
    await t.node.images.prune();
    assert.equal((await v2('HEAD', `/v2/refs/app/manifests/${sha(sig)}`)).status, 200);
  });

  it('stores a Unikraft-style image: raw ROM blob with a custom media type and an uncompressed tar kernel layer', async () => {
    const rom = Buffer.alloc(8192, 0x5a); // raw, page aligned, not a tar
    const kernel = buildTar([{ path: 'unikraft/bin/kernel', type: 'file', data: Buffer.from('\x7fELF fake kernel') }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'x86_64', os: 'kraftcloud', rootfs: { type: 'layers', diff_ids: [sha(kernel), sha(rom)] } }));
    for (const b of [rom, kernel, config]) await pushBlob(v2, 'unikraft/app', b);
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha(config), size: config.length },
      layers: [
        { mediaType: MT.ociLayer, digest: sha(kernel), size: kernel.length, annotations: { 'org.unikraft.kernel.image': '/unikraft/bin/kernel' } },
        { mediaType: 'application/vnd.unikraft.rom.v1', digest: sha(rom), size: rom.length },
      ],
    };
    const body = Buffer.from(JSON.stringify(manifest));
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: sha(body), size: body.length, platform: { os: 'kraftcloud', architecture: 'x86_64' } }] }));
    assert.equal((await pushManifest(v2, 'unikraft/app', sha(body), body)).status, 201);
    const put = await pushManifest(v2, 'unikraft/app', 'latest', index, MT.ociIndex);
    assert.equal(put.status, 201, put.body.toString());
    const got = await v2('GET', '/v2/unikraft/app/manifests/latest', { headers: { accept: `${MT.ociIndex}, ${MT.ociManifest}` } });
    assert.equal(got.headers.get('content-type'), MT.ociIndex);
    assert.ok(got.body.equals(index));
    assert.ok((await v2('GET', `/v2/unikraft/app/blobs/${sha(rom)}`)).body.equals(rom));
    // skopeo reads it back unchanged
    const out = join(work, 'uk-dir');
    await run('skopeo', ['copy', '-q', '--preserve-digests', '--all', '--src-tls-verify=false', '--src-creds', creds, `docker://${host}/unikraft/app:latest`, `oci:${out}:latest`]);
    assert.ok(readFileSync(join(out, 'blobs', 'sha256', sha(rom).slice(7))).equals(rom));
    // the image store lists it as not runnable in a container, and refuses to run it
    const rec = (await t.node.images.list()).find((r) => r.ref === 'unikraft/app:latest')!;
    assert.equal(rec.initrdOrRom, true);
    await assert.rejects(t.node.images.resolve('unikraft/app:latest'), /cannot run/);
  });

  it('deletes manifests and blobs; gc removes what nothing uses but keeps images instances run', async () => {
    const images = join(t.config.home, 'images', 'blobs', 'sha256');
    const blobFile = (d: string): string => join(images, d.slice(7));
    // an image nobody runs
    const gone = await pushSmallImage(v2, 'gc/app', { only: 'here' });
    assert.equal((await pushManifest(v2, 'gc/app', 'v1', gone.manifestBytes)).status, 201);
    // a stray blob, never referenced
    const stray = await pushBlob(v2, 'gc/app', Buffer.from('stray'));
    // deleting by tag and by digest
    assert.equal((await v2('DELETE', '/v2/gc/app/manifests/v1')).status, 202);
    assert.equal((await v2('GET', '/v2/gc/app/manifests/v1')).status, 404);
    assert.equal((await v2('HEAD', `/v2/gc/app/manifests/${gone.digest}`)).status, 200, 'a deleted tag leaves the manifest');
    assert.equal((await v2('DELETE', `/v2/gc/app/manifests/${gone.digest}`)).status, 202);
    assert.equal((await v2('HEAD', `/v2/gc/app/manifests/${gone.digest}`)).status, 404);
    assert.equal((await v2('DELETE', `/v2/gc/app/blobs/${stray}`)).status, 202);
    assert.equal((await v2('HEAD', `/v2/gc/app/blobs/${stray}`)).status, 404);
    assert.equal((await v2('DELETE', `/v2/gc/app/blobs/${stray}`)).status, 404);

    // library/hello:v1 runs (previous test); delete everything that names it
    const used = (await v2('HEAD', '/v2/library/hello/manifests/v1')).headers.get('docker-content-digest')!;
    const usedLayer = (JSON.parse((await v2('GET', `/v2/library/hello/manifests/${used}`)).body.toString()) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    assert.equal((await v2('DELETE', '/v2/library/hello/manifests/v2')).status, 202);
    const refused = await v2('DELETE', `/v2/library/hello/manifests/${used}`);
    assert.equal(refused.status, 409);
    assert.equal(refused.json.errors[0].code, 'DENIED');
    assert.equal((await v2('DELETE', '/v2/library/hello/manifests/v1')).status, 202, 'hello:latest still tags the same digest');
    if ((await v2('HEAD', '/v2/x/y/manifests/z')).headers.get('docker-content-digest') === used) {
      assert.equal((await v2('DELETE', '/v2/x/y/manifests/z')).status, 202, 'buildah kept the digest: one more tag of it');
    }
    await assert.rejects(t.node.images.remove('hello:latest'), /used by an instance/);
    const last = await v2('DELETE', '/v2/hello/manifests/latest');
    assert.equal(last.status, 409, 'the last tag of an image in use stays');

    const running = await t.node.store.allInstances();
    const res = await t.node.registry.gc((d) => running.some((i) => i.imageDigest === d), { graceMs: 0 });
    for (const d of [gone.digest, sha(gone.blobs[0]!), stray]) {
      assert.ok(res.removed.includes(d), `${d} collected`);
      assert.ok(!existsSync(blobFile(d)), `${d} file removed`);
    }
    assert.ok(existsSync(blobFile(used)) && existsSync(blobFile(usedLayer)), 'an image an instance runs stays');
    assert.equal((await v2('HEAD', `/v2/library/hello/manifests/${used}`)).status, 200);
  });
});

async function spawnRmi(b: string[]): Promise<void> {
  try {
    await run('buildah', [...b, 'rmi', '--all', '--force']);
  } catch {
    // nothing left to remove
  }
}
