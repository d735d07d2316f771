/**
 * Repository owners on a real node: a second user cannot push over, delete,
 * reference, mount, list or run another user's private images, through
 * /v2/ (skopeo and raw HTTP) or /v1; the owner and the admin still can, and
 * public images (what the admin imported) stay readable by everyone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MT } from '../../../src/oci/media-types.js';
import { HELLO_ARCHIVE, startTestNode, type TestNode } from '../../helpers/node.js';
import { hasCmd, pushManifest, pushSmallImage, run, sha, v2Client, type SmallImage, type V2 } from './v2.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root' : !hasCmd('skopeo') ? 'skopeo not installed' : false;

interface TestUser {
  name: string;
  uuid: string;
  token: string;
  v2: V2;
}

describe('registry tenancy', { skip }, () => {
  let t: TestNode;
  let host: string;
  let alice: TestUser;
  let bob: TestUser;
  let admin: V2;
  let secret: SmallImage;
  let mine: SmallImage;

  const addUser = async (name: string): Promise<TestUser> => {
    const r = await t.api('POST', '/v1/users', { name });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const token = String(r.items[0]!['token']);
    return { name, uuid: String(r.items[0]!['uuid']), token, v2: v2Client(t.url, token) };
  };
  const skopeoPush = (u: TestUser, dest: string): Promise<string> =>
    run('skopeo', ['copy', '-q', '--dest-tls-verify=false', '--dest-creds', `${u.name}:${u.token}`, `oci-archive:${HELLO_ARCHIVE}`, `docker://${host}/${dest}`]);
  const catalog = async (v2: V2): Promise<string[]> => {
    const r = await v2('GET', '/v2/_catalog');
    assert.equal(r.status, 200);
    return r.json.repositories as string[];
  };

  before(async () => {
    t = await startTestNode();
    host = new URL(t.url).host;
    admin = v2Client(t.url, t.token);
    alice = await addUser('alice');
    bob = await addUser('bob');
    secret = await pushSmallImage(alice.v2, 'alice/app', { 'secret.txt': 'alice only' });
    assert.equal((await pushManifest(alice.v2, 'alice/app', '1', secret.manifestBytes)).status, 201);
    // No namespace: nobody owned `myapp`, so alice's push makes it hers.
    mine = await pushSmallImage(alice.v2, 'myapp', { 'app.txt': 'alice app' });
    assert.equal((await pushManifest(alice.v2, 'myapp', '1', mine.manifestBytes)).status, 201);
  });
  after(async () => {
    await t?.close();
  });

  it("refuses a push over another user's tag (skopeo and raw), in their namespace and in a repository they created", async () => {
    await assert.rejects(skopeoPush(bob, 'alice/app:1'));
    await assert.rejects(skopeoPush(bob, 'myapp:1'));
    await assert.rejects(skopeoPush(bob, 'alice/new:1'), 'a namespace is its user\'s even before it exists');
    for (const repo of ['alice/app', 'myapp']) {
      const up = await bob.v2('POST', `/v2/${repo}/blobs/uploads/`);
      assert.equal(up.status, 403, up.body.toString());
      assert.equal(up.json.errors[0].code, 'DENIED');
      assert.equal((await pushManifest(bob.v2, repo, '1', mine.manifestBytes)).status, 403);
    }
    assert.equal((await alice.v2('GET', '/v2/alice/app/manifests/1')).headers.get('docker-content-digest'), secret.digest);
    assert.equal((await alice.v2('GET', '/v2/myapp/manifests/1')).headers.get('docker-content-digest'), mine.digest);
    // bob pushes into a name nobody owns: it becomes his, and alice cannot push over it.
    await skopeoPush(bob, 'bobapp:1');
    await assert.rejects(skopeoPush(alice, 'bobapp:1'));
    assert.equal((await bob.v2('HEAD', '/v2/bobapp/manifests/1')).status, 200);
  });

  it("refuses deleting another user's tags and manifests; the owner may", async () => {
    assert.notEqual((await bob.v2('DELETE', `/v2/alice/app/manifests/1`)).status, 202);
    assert.notEqual((await bob.v2('DELETE', `/v2/alice/app/manifests/${secret.digest}`)).status, 202);
    assert.notEqual((await bob.v2('DELETE', `/v2/alice/app/blobs/${sha(secret.blobs[0]!)}`)).status, 202);
    const v1 = await t.api('DELETE', '/v1/registry/images', [{ name: 'alice/app', tag: '1' }], bob.token);
    assert.equal(v1.items[0]!['status'], 'error');
    assert.equal((await alice.v2('HEAD', '/v2/alice/app/manifests/1')).status, 200);
    assert.equal((await alice.v2('HEAD', `/v2/alice/app/blobs/${sha(secret.blobs[0]!)}`)).status, 200);
    // The owner deletes a tag of her own.
    assert.equal((await pushManifest(alice.v2, 'alice/app', 'tmp', secret.manifestBytes)).status, 201);
    assert.equal((await alice.v2('DELETE', '/v2/alice/app/manifests/tmp')).status, 202);
  });

  it("refuses a manifest that references blobs only another user uploaded, and mounts of them with or without from", async () => {
    const layer = sha(secret.blobs[0]!);
    const cfg = sha(secret.blobs[1]!);
    const theft = await pushManifest(bob.v2, 'bob/stolen', '1', secret.manifestBytes);
    assert.equal(theft.status, 400, theft.body.toString());
    assert.equal(theft.json.errors[0].code, 'MANIFEST_BLOB_UNKNOWN');
    for (const q of [`mount=${layer}&from=alice/app`, `mount=${layer}`, `mount=${cfg}&from=bob/stolen`]) {
      const m = await bob.v2('POST', `/v2/bob/stolen/blobs/uploads/?${q}`);
      assert.equal(m.status, 202, `${q}: not mounted, an upload session instead`);
      await bob.v2('DELETE', new URL(m.headers.get('location')!, t.url).pathname);
    }
    assert.equal((await bob.v2('HEAD', `/v2/bob/stolen/blobs/${layer}`)).status, 404);
    assert.equal((await bob.v2('GET', `/v2/alice/app/blobs/${layer}`)).status, 404);
    assert.equal((await bob.v2('GET', '/v2/alice/app/manifests/1')).status, 404);
    assert.equal((await bob.v2('GET', '/v2/alice/app/tags/list')).status, 404);
    // The owner mounts her own blob into another repository of hers; the admin may mount anything.
    assert.equal((await alice.v2('POST', `/v2/alice/copy/blobs/uploads/?mount=${layer}&from=alice/app`)).status, 201);
    assert.equal((await admin('POST', `/v2/published/blobs/uploads/?mount=${layer}`)).status, 201);
    // Blobs of public images may be referenced by anyone.
    const hello = await bob.v2('GET', '/v2/hello/manifests/latest', { headers: { accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
    assert.equal(hello.status, 200);
    const r = await pushManifest(bob.v2, 'bob/hello', 'v1', hello.body, hello.headers.get('content-type') ?? MT.ociManifest);
    assert.equal(r.status, 201, r.body.toString());
  });

  it('lists only what a user may read: _catalog, /v1/images, /v1/registry/images', async () => {
    const bobs = await catalog(bob.v2);
    assert.ok(!bobs.includes('alice/app') && !bobs.includes('myapp') && !bobs.includes('alice/copy'), bobs.join(' '));
    assert.ok(bobs.includes('hello') && bobs.includes('bobapp'), 'public and own repositories are listed');
    const alices = await catalog(alice.v2);
    assert.ok(alices.includes('alice/app') && alices.includes('myapp') && alices.includes('hello') && !alices.includes('bobapp'), alices.join(' '));
    const all = await catalog(admin);
    for (const r of ['alice/app', 'myapp', 'bobapp', 'hello']) assert.ok(all.includes(r), r);

    const repos = async (token: string, path: string, key: 'url' | 'name'): Promise<string[]> => (await t.api('GET', path, undefined, token)).items.map((i) => String(i[key]));
    const bobImages = await repos(bob.token, '/v1/images', 'url');
    assert.ok(bobImages.some((u) => u.includes('/hello:')) && !bobImages.some((u) => u.includes('/alice/app') || u.includes('/myapp')), bobImages.join(' '));
    assert.ok((await repos(alice.token, '/v1/images', 'url')).some((u) => u.includes('/alice/app:1')));
    assert.equal((await t.api('GET', `/v1/images?digest=${secret.digest}`, undefined, bob.token)).items[0]!['status'], 'error');
    const bobRegistry = await repos(bob.token, '/v1/registry/images', 'name');
    assert.ok(bobRegistry.includes('hello') && !bobRegistry.includes('alice/app') && !bobRegistry.includes('myapp'), bobRegistry.join(' '));
    assert.ok((await repos(t.token, '/v1/registry/images', 'name')).includes('alice/app'));
  });

  it("refuses an instance from another user's private image, as if it did not exist; the owner, the admin and public images run", async () => {
    const create = (token: string, image: string) => t.api('POST', '/v1/instances', { image, autostart: false }, token);
    const absent = await create(bob.token, 'alice/none:1');
    assert.equal(absent.status, 400);
    for (const image of ['alice/app:1', `alice/app@${secret.digest}`, 'myapp:1']) {
      const r = await create(bob.token, image);
      assert.equal(r.status, 400, image);
      assert.equal(String(r.json.message).replace(image, 'X'), String(absent.json.message).replace('alice/none:1', 'X'), 'the same answer as for an image that does not exist');
    }
    const made: string[] = [];
    for (const [token, image] of [[alice.token, 'alice/app:1'], [t.token, 'alice/app:1'], [bob.token, 'hello:latest']] as const) {
      const r = await create(token, image);
      assert.equal(r.status, 200, `${image}: ${JSON.stringify(r.json)}`);
      made.push(String(r.items[0]!['uuid']));
    }
    // A pin is a read too.
    const pin = await t.api('POST', '/v1/images', { url: 'alice/app:1', timeout_s: 5, pull_policy: 'never' }, bob.token);
    assert.equal(pin.items[0]!['status'], 'error');
    await t.api('DELETE', '/v1/instances', made.map((uuid) => ({ uuid })));
  });
});
