import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { eventually, httpGet, HELLO_ARCHIVE, startTestNode, testConfig, type TestNode } from '../../helpers/node.js';
import { createServer, type Server } from 'node:net';
import { freePort, htpasswdLine, skopeoCopy, startDockerRegistry, type DockerRegistry } from './docker-registry.js';
import { helloVariant } from './hello-variant.js';

/**
 * A node whose central registry is Debian's docker-registry (CNCF
 * Distribution): images only central holds are pulled on first use, once,
 * and cached images keep working when central is down.
 */
let central: DockerRegistry;
let authed: DockerRegistry | undefined;
let n: TestNode;
let authedPort: number;
const variants: string[] = [];
/** One answer for every failed pull, whatever the cause. */
const PULL_FAILED = (ref: string): string => `image: image '${ref}' could not be pulled (the node's log says why)`;

before(async () => {
  central = await startDockerRegistry();
  await skopeoCopy(`oci-archive:${HELLO_ARCHIVE}`, `docker://${central.host}/library/hello:v1`);
  for (const v of ['v2', 'v3']) {
    const dir = await helloVariant(HELLO_ARCHIVE, v);
    variants.push(dir);
    await skopeoCopy(`oci:${dir}:${v}`, `docker://${central.host}/library/hello:${v}`);
  }
  const config = testConfig();
  config.central = { url: central.url };
  // The basic-auth registry of the last test: on loopback, so it must be configured to be pulled from.
  authedPort = await freePort();
  config.allowedRegistries = [`127.0.0.1:${authedPort}`];
  n = await startTestNode(config);
});
after(async () => {
  await n?.close();
  await central?.destroy();
  await authed?.destroy();
  for (const d of variants) rmSync(d, { recursive: true, force: true });
});

const manifestGets = (r: DockerRegistry, repo: string, tag: string): number => r.count('GET', `/v2/${repo}/manifests/${tag}`, 200);

test('an image only central holds is pulled on first use, runs and serves HTTP', async () => {
  assert.equal((await n.api('GET', '/v1/images?tag=library/hello:v1')).items[0]?.['error'], 8, 'not on the node before');
  const r = await n.api('POST', '/v1/instances', { name: 'from-central', image: 'library/hello:v1', autostart: true, timeout_s: 30 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const inst = r.items[0]!;
  assert.equal(inst['state'], 'running');
  assert.equal(manifestGets(central, 'library/hello', 'v1'), 1);
  const res = await eventually(async () => httpGet(String(inst['private_ip']), 8080, '/', 3000).catch(() => undefined), 15_000);
  assert.equal(res.status, 200);
  assert.match(res.body, /Hello from hangar! \(from-central\)/);
  const img = (await n.api('GET', '/v1/images?tag=library/hello:v1')).items[0]!;
  assert.deepEqual(img['users'], ['admin']);
  assert.equal(img['initrd_or_rom'], false);
  assert.match(String(img['url']), /\/library\/hello:v1@sha256:[a-f0-9]{64}$/);
});

test('5 concurrent creates of another central-only tag pull it once', async () => {
  const before = central.requests().length;
  const results = await Promise.all([1, 2, 3, 4, 5].map((i) => n.api('POST', '/v1/instances', { name: `par-${i}`, image: 'library/hello:v2', autostart: false })));
  for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(manifestGets(central, 'library/hello', 'v2'), 1, central.requests().slice(before).join('\n'));
  const blobGets = central.requests().slice(before).filter((l) => /^GET \/v2\/library\/hello\/blobs\/sha256:[a-f0-9]+ 200$/.test(l));
  assert.equal(blobGets.length, 1, `only the new config blob is fetched (the layer is shared with v1): ${blobGets.join(', ')}`);
  const digests = new Set(await Promise.all(results.map(async (r) => (await n.node.store.getInstance(String(r.items[0]!['uuid'])))!.imageDigest)));
  assert.equal(digests.size, 1);
  await n.api('DELETE', '/v1/instances', [1, 2, 3, 4, 5].map((i) => ({ name: `par-${i}` })));
});

test('central offline: if_not_present uses the cached image, always fails cleanly, never on a missing image is a 400 naming image', async () => {
  await central.stop();
  const cached = await n.api('POST', '/v1/instances', { name: 'offline-ok', image: { url: 'library/hello:v1', pull_policy: 'if_not_present' }, autostart: true, timeout_s: 30 });
  assert.equal(cached.status, 200, JSON.stringify(cached.json));
  assert.equal(cached.items[0]!['state'], 'running');

  const always = await n.api('POST', '/v1/instances', { name: 'offline-always', image: { url: 'library/hello:v1', pull_policy: 'always' }, autostart: true, timeout_s: 30 });
  assert.equal(always.status, 400, JSON.stringify(always.json));
  assert.equal(always.json.message, PULL_FAILED('library/hello:v1'), 'a closed port says no more than any other failure');
  assert.equal((await n.api('GET', '/v1/instances?name=offline-always')).items[0]?.['error'], 8, 'no instance was made');

  const never = await n.api('POST', '/v1/instances', { name: 'offline-never', image: { url: 'library/hello:v3', pull_policy: 'never' } });
  assert.equal(never.status, 400);
  assert.match(String(never.json.message), /^image: image 'library\/hello:v3' is not on this node and pull_policy is 'never'/);

  const missing = await n.api('POST', '/v1/instances', { name: 'offline-missing', image: 'library/hello:v3' });
  assert.equal(missing.status, 400);
  assert.equal(missing.json.message, PULL_FAILED('library/hello:v3'));
  assert.deepEqual(await n.node.registry.tags('library/hello').then((t) => t.map((x) => x.tag).sort()), ['v1', 'v2'], 'no partial tag');
});

test('a registry with basic auth, named by a full reference, with ImageSpec credentials', async () => {
  const line = htpasswdLine('hangar', 's3cret');
  // make test installs apache2-utils (scripts/install-deps.sh): a missing bcrypt is a setup failure, not a skip.
  assert.ok(line, 'no bcrypt: neither htpasswd (apache2-utils) nor Python crypt is available');
  authed = await startDockerRegistry({ htpasswd: line, port: authedPort });
  await skopeoCopy(`oci-archive:${HELLO_ARCHIVE}`, `docker://${authed.host}/private/hello:v1`, { destCreds: 'hangar:s3cret' });
  const ref = `${authed.host}/private/hello:v1`;

  const anon = await n.api('POST', '/v1/instances', { name: 'priv-anon', image: ref, autostart: false });
  assert.equal(anon.status, 400, JSON.stringify(anon.json));
  assert.equal(anon.json.message, PULL_FAILED(ref));
  const wrong = await n.api('POST', '/v1/instances', { name: 'priv-wrong', image: { url: ref, credentials: { username: 'hangar', password: 'nope' } }, autostart: false });
  assert.equal(wrong.status, 400, JSON.stringify(wrong.json));

  const ok = await n.api('POST', '/v1/instances', { name: 'priv', image: { url: ref, credentials: { username: 'hangar', password: 's3cret' } }, autostart: true, timeout_s: 30 });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.items[0]!['state'], 'running');
  assert.equal(authed.count('GET', '/v2/private/hello/manifests/v1', 200), 1);
  const res = await eventually(async () => httpGet(String(ok.items[0]!['private_ip']), 8080, '/', 3000).catch(() => undefined), 15_000);
  assert.match(res.body, /Hello from hangar! \(priv\)/);
});

/** A TCP listener on loopback that counts the connections it accepts (and answers none). */
async function countingListener(): Promise<{ port: number; accepts: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((sock) => {
    n++;
    sock.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { port: typeof a === 'object' && a ? a.port : 0, accepts: () => n, close: () => new Promise((r) => server.close(() => r())) };
}

test('a reference to a host the node is not configured for is refused before any connection, with the same answer for open and closed ports', async () => {
  const open = await countingListener();
  const closed = await freePort();
  try {
    const answers: string[] = [];
    for (const port of [open.port, closed]) {
      const ref = `127.0.0.1:${port}/internal/secret:1`;
      const plain = await n.api('POST', '/v1/instances', { name: `probe-${port}`, image: ref, autostart: false });
      assert.equal(plain.status, 400, JSON.stringify(plain.json));
      const spec = await n.api('POST', '/v1/instances', { name: `probe-h-${port}`, image: { url: ref, headers: { 'X-Internal-Token': 'x', Authorization: 'Bearer y' }, pull_policy: 'always' }, autostart: false });
      assert.equal(spec.status, 400, JSON.stringify(spec.json));
      const pin = await n.api('POST', '/v1/images', { url: ref, timeout_s: 5, headers: { 'X-Internal-Token': 'x' } });
      assert.equal(pin.items[0]!['status'], 'error');
      for (const m of [plain.json.message, spec.json.message]) assert.equal(m, PULL_FAILED(ref));
      answers.push(String(pin.items[0]!['message']).replace(String(port), 'PORT'), String(plain.json.message).replace(String(port), 'PORT'));
    }
    assert.deepEqual(answers.slice(0, 2), answers.slice(2), 'open and closed ports answer alike');
    assert.equal(open.accepts(), 0, 'the node never connected to the listener');
  } finally {
    await open.close();
  }
});
