import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { combineOciImages, writeOciLayout } from '../../../src/image/oci-writer.js';
import { runCli, tempHome } from '../../helpers/cli.js';
import { HELLO_ARCHIVE, startTestNode, testConfig, type TestNode } from '../../helpers/node.js';
import { skopeoCopy, startDockerRegistry, type DockerRegistry } from '../central/docker-registry.js';
import { erofsImage, unikernelImage } from '../../unit/unikraft/layouts.js';

let n: TestNode;
let central: DockerRegistry;
let env: NodeJS.ProcessEnv;
let work: string;
const hangar = (...argv: string[]) => runCli(argv, env);
const json = <T = Array<Record<string, unknown>>>(s: string): T => JSON.parse(s) as T;

before(async () => {
  central = await startDockerRegistry();
  await skopeoCopy(`oci-archive:${HELLO_ARCHIVE}`, `docker://${central.host}/library/hello:v1`);
  const config = testConfig();
  config.central = { url: central.url };
  n = await startTestNode(config);
  env = { HOME: tempHome(), UKC_METRO: n.url, UKC_TOKEN: n.token };
  work = mkdtempSync(join(tmpdir(), 'hangar-cli-image-'));
});
after(async () => {
  await n?.close();
  await central?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('image push (chunked) to the node registry, plain progress lines off a terminal, -o json parses', async () => {
  const r = await hangar('image', 'push', HELLO_ARCHIVE, 'hello:pushed', '--chunk-size', '1', '-o', 'json');
  assert.equal(r.code, 0, r.err);
  const [row] = json(r.out);
  assert.equal(row!['ref'], `${new URL(n.url).host}/hello:pushed`);
  assert.match(String(row!['digest']), /^sha256:[a-f0-9]{64}$/);
  const blobs = row!['blobs'] as { uploaded: number; exists: number };
  assert.equal(blobs.uploaded + blobs.exists, 2);
  assert.match(r.err, /^push 127\.0\.0\.1:\d+\/hello:pushed…\n/);
  assert.match(r.err, /push 127\.0\.0\.1:\d+\/hello:pushed: .* sent; blobs: \d uploaded, \d already there; sha256:/);
  // The same content again: nothing is uploaded.
  const again = await hangar('image', 'push', HELLO_ARCHIVE, 'hello:again', '-o', 'json');
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(json(again.out)[0]!['blobs'], { exists: 2, mounted: 0, uploaded: 0 });
  assert.equal(json(again.out)[0]!['bytes_pushed'], 0);
});

test('image ls shows pushed images with their owner; the table fits 80 columns', async () => {
  const r = await hangar('image', 'ls', '-o', 'json');
  assert.equal(r.code, 0, r.err);
  const pushed = json(r.out).find((i) => (i['tags'] as string[]).includes('hello:pushed'))!;
  assert.ok(pushed, r.out);
  assert.equal(pushed['owner'], 'admin');
  assert.equal(pushed['initrd_or_rom'], false);
  assert.equal(pushed['kind'], 'oci');
  const table = await hangar('image', 'ls');
  assert.equal(table.code, 0, table.err);
  assert.match(table.out.split('\n')[0]!, /^IMAGE\s+DIGEST\s+KIND\s+SIZE\s+CREATED\s+USED BY$/);
  assert.ok(table.out.split('\n').every((l) => l.length <= 80), table.out);
  assert.match(table.out, /hello:(pushed|again)/);
});

test('an instance runs from a pushed image; image rm refuses while it exists, then removes', async () => {
  const c = await n.api('POST', '/v1/instances', { name: 'from-push', image: 'hello:pushed', autostart: false });
  assert.equal(c.status, 200, JSON.stringify(c.json));
  const refused = await hangar('image', 'rm', 'hello:pushed');
  assert.equal(refused.code, 1);
  assert.match(refused.err, /image (rm|remove): .*used by 1 instance\(s\) \(from-push\)/);
  await n.api('DELETE', '/v1/instances', [{ name: 'from-push' }]);
  const ok = await hangar('image', 'rm', 'hello:pushed', '-o', 'json');
  assert.equal(ok.code, 0, ok.err);
  assert.deepEqual(json(ok.out).map((e) => [e['name'], e['tag']]), [['hello', 'pushed']]);
  const missing = await hangar('image', 'rm', 'hello:pushed');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /not found/);
});

test('image pull pins an image from central; ls --pinned; unpin', async () => {
  const r = await hangar('image', 'pull', 'library/hello:v1', '-o', 'json');
  assert.equal(r.code, 0, r.err);
  const [pin] = json(r.out);
  assert.equal(pin!['state'], 'ready');
  assert.equal(pin!['url'], 'library/hello:v1');
  assert.equal(central.count('GET', '/v2/library/hello/manifests/v1'), 1);
  const pinned = await hangar('image', 'ls', '--pinned', '-o', 'json');
  assert.deepEqual(json(pinned.out).map((i) => i['tags']), [['library/hello:v1']]);
  const rm = await hangar('image', 'rm', 'library/hello:v1');
  assert.equal(rm.code, 1);
  assert.match(rm.err, /pinned; unpin it first/);
  const un = await hangar('image', 'unpin', String(pin!['uuid']));
  assert.equal(un.code, 0, un.err);
  assert.match(un.out, /library\/hello:v1 unpinned/);
  const bad = await hangar('image', 'pull', 'library/nothing:v1');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /image pull: .*image 'library\/nothing:v1' could not be pulled \(the node's log says why\)/, 'a missing image answers like any failed pull');
});

test('image push of a kraftkit layout (qemu + fc) is stored faithfully and listed as a unikernel', async () => {
  const dir = join(work, 'uk-layout');
  const img = combineOciImages([unikernelImage({ os: 'qemu', roms: [erofsImage({ 'a.txt': 'a' })] }), unikernelImage({ os: 'fc' })], { refName: 'latest' });
  await writeOciLayout(img, dir);
  const r = await hangar('image', 'push', dir, 'apps/uk:latest', '-o', 'json');
  assert.equal(r.code, 0, r.err);
  assert.equal(json(r.out)[0]!['digest'], img.indexDigest, 'the index digest survives the push');
  const ls = json((await hangar('image', 'ls', '-o', 'json')).out).find((i) => i['digest'] === img.indexDigest)!;
  assert.equal(ls['kind'], 'unikernel');
  assert.equal(ls['initrd_or_rom'], true);
  assert.equal(ls['platform'], 'qemu/x86_64');
  const run = await n.api('POST', '/v1/instances', { image: 'apps/uk:latest', autostart: false });
  assert.equal(run.status, 400);
  assert.match(String(run.json.message), /unikernel\/ROM image .*the runc driver cannot run it/);
  // skopeo copies it back out of the node unchanged: the same index digest, ROM and kernel blobs included.
  const out = join(work, 'uk-back');
  await skopeoCopy(`docker://${new URL(n.url).host}/apps/uk:latest`, `oci:${out}:latest`, { srcCreds: `admin:${n.token}`, extra: ['--all', '--preserve-digests'] });
  const back = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  assert.equal(back.manifests[0]!.digest, img.indexDigest);
});

test('image push to another registry by full reference, then the node pulls it from there', async () => {
  const r = await hangar('image', 'push', HELLO_ARCHIVE, `${central.host}/team/hello:v9`, '-o', 'json');
  assert.equal(r.code, 0, r.err);
  const digest = String(json(r.out)[0]!['digest']);
  assert.equal(central.count('PUT', '/v2/team/hello/manifests/v9', 201), 1);
  const c = await n.api('POST', '/v1/instances', { name: 'from-other', image: `${central.host}/team/hello:v9`, autostart: false });
  assert.equal(c.status, 200, JSON.stringify(c.json));
  assert.equal((await n.node.store.getInstanceByName('from-other'))!.imageDigest, digest);
  await n.api('DELETE', '/v1/instances', [{ name: 'from-other' }]);
});

test('image import goes to the UKC_METRO node through its registry, never into a local node home', async () => {
  // A node home on this machine (as ~/.hangar would be) that import must not touch.
  const home = mkdtempSync(join(tmpdir(), 'hangar-cli-import-'));
  try {
    const r = await runCli(['image', 'import', HELLO_ARCHIVE, '--ref', 'hello:imported', '-o', 'json'], { ...env, HANGAR_HOME: home });
    assert.equal(r.code, 0, r.err);
    const [row] = json(r.out);
    assert.equal(row!['ref'], 'hello:imported');
    assert.match(String(row!['digest']), /^sha256:/);
    assert.deepEqual(readdirSync(home), [], 'nothing written into the local home');
    // The target node has it: an instance can be made from it.
    const c = await n.api('POST', '/v1/instances', { name: 'from-import', image: 'hello:imported', autostart: false });
    assert.equal(c.status, 200, JSON.stringify(c.json));
    await n.api('DELETE', '/v1/instances', [{ name: 'from-import' }]);
    // Without a token for the node it is refused, not written anywhere.
    const anon = await runCli(['image', 'import', HELLO_ARCHIVE, '--ref', 'hello:anon'], { HOME: tempHome(), UKC_METRO: n.url, HANGAR_HOME: home });
    assert.notEqual(anon.code, 0);
    assert.deepEqual(readdirSync(home), []);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
