/**
 * What a user pulls with their own credentials is theirs alone: a registry
 * behind basic auth (Debian's docker-registry with htpasswd) holds an image;
 * alice pulls and runs it with her credentials; bob can neither list it, read
 * it over /v2/, nor create an instance from it (without credentials, or with
 * his own). An image pulled anonymously from a public registry stays shared.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MT } from '../../../src/oci/media-types.js';
import { eventually, httpGet, HELLO_ARCHIVE, startTestNode, testConfig, type TestNode } from '../../helpers/node.js';
import { v2Client, type V2 } from '../registry/v2.js';
import { htpasswdLine, skopeoCopy, startDockerRegistry, type DockerRegistry } from './docker-registry.js';

interface TestUser {
  name: string;
  token: string;
  v2: V2;
}

let authed: DockerRegistry | undefined;
let open: DockerRegistry | undefined;
let n: TestNode | undefined;
let alice: TestUser;
let bob: TestUser;
const CREDS = { username: 'hangar', password: 's3cret' };
const ACCEPT = { accept: `${MT.ociManifest}, ${MT.ociIndex}, ${MT.dockerManifest}` };

before(async () => {
  const line = htpasswdLine(CREDS.username, CREDS.password);
  assert.ok(line, 'no bcrypt: neither htpasswd (apache2-utils) nor Python crypt is available');
  authed = await startDockerRegistry({ htpasswd: line });
  open = await startDockerRegistry();
  await skopeoCopy(`oci-archive:${HELLO_ARCHIVE}`, `docker://${authed.host}/private/hello:v1`, { destCreds: `${CREDS.username}:${CREDS.password}` });
  await skopeoCopy(`oci-archive:${HELLO_ARCHIVE}`, `docker://${open.host}/pub/hello:v1`);
  const config = testConfig();
  // Both registries are on loopback: the node pulls from them only when configured to.
  config.allowedRegistries = [authed.host, open.host];
  n = await startTestNode(config);
  const addUser = async (name: string): Promise<TestUser> => {
    const r = await n!.api('POST', '/v1/users', { name });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const token = String(r.items[0]!['token']);
    return { name, token, v2: v2Client(n!.url, token) };
  };
  alice = await addUser('alice');
  bob = await addUser('bob');
});

after(async () => {
  try {
    // The admin's close deletes the admin's instances; the users' go first.
    for (const u of [alice, bob]) {
      if (!u || !n) continue;
      const all = await n.api('GET', '/v1/instances?details=false', undefined, u.token);
      if (all.items.length > 0) await n.api('DELETE', '/v1/instances', all.items.map((i) => ({ uuid: i['uuid'] })), u.token);
    }
  } finally {
    await n?.close();
    await authed?.destroy();
    await open?.destroy();
  }
});

const imageUrls = async (u: TestUser): Promise<string[]> => (await n!.api('GET', '/v1/images', undefined, u.token)).items.map((i) => String(i['url']));

test('an image pulled with credentials is readable and runnable by its puller only; an anonymous pull stays shared', async () => {
  const ref = `${authed!.host}/private/hello:v1`;
  const mine = await n!.api('POST', '/v1/instances', { name: 'alice-priv', image: { url: ref, credentials: CREDS }, autostart: true, timeout_s: 30 }, alice.token);
  assert.equal(mine.status, 200, JSON.stringify(mine.json));
  assert.equal(mine.items[0]!['state'], 'running');
  const res = await eventually(async () => httpGet(String(mine.items[0]!['private_ip']), 8080, '/', 3000).catch(() => undefined), 15_000);
  assert.match(res.body, /Hello from hangar! \(alice-priv\)/);

  // alice sees and reads it; a second instance of hers resolves it from the node without credentials.
  assert.ok((await imageUrls(alice)).some((u) => u.includes('/private/hello:v1')), (await imageUrls(alice)).join(' '));
  assert.equal((await alice.v2('GET', '/v2/private/hello/manifests/v1', { headers: ACCEPT })).status, 200);
  const again = await n!.api('POST', '/v1/instances', { name: 'alice-priv-2', image: `private/hello:v1`, autostart: false }, alice.token);
  assert.equal(again.status, 200, JSON.stringify(again.json));

  // bob: not listed, not readable over /v2/, not runnable by any name, with or without credentials.
  const bobs = await imageUrls(bob);
  assert.ok(!bobs.some((u) => u.includes('private/hello')), bobs.join(' '));
  assert.equal((await bob.v2('GET', '/v2/private/hello/manifests/v1', { headers: ACCEPT })).status, 404);
  const catalog = (await bob.v2('GET', '/v2/_catalog')).json as { repositories: string[] };
  assert.ok(!catalog.repositories.includes('private/hello'), catalog.repositories.join(' '));
  for (const image of [ref, 'private/hello:v1', { url: ref, pull_policy: 'never' }, { url: ref, credentials: CREDS }, { url: ref, credentials: CREDS, pull_policy: 'always' }]) {
    const r = await n!.api('POST', '/v1/instances', { name: 'bob-try', image, autostart: false }, bob.token);
    assert.ok(r.status === 400 || r.status === 404, `${JSON.stringify(image)}: ${r.status} ${JSON.stringify(r.json)}`);
  }
  assert.equal((await n!.api('GET', '/v1/instances?details=false', undefined, bob.token)).items.length, 0, 'bob made no instance');
  assert.equal(authed!.count('GET', '/v2/private/hello/manifests/v1', 200), 1, "alice's pull only: bob's are refused before any request to the registry");

  // The admin reads everything.
  assert.equal((await v2Client(n!.url, n!.token)('GET', '/v2/private/hello/manifests/v1', { headers: ACCEPT })).status, 200);

  // An anonymous pull of a public image stays in the shared cache: bob lists, reads and runs what alice pulled.
  const pubRef = `${open!.host}/pub/hello:v1`;
  const pub = await n!.api('POST', '/v1/instances', { name: 'alice-pub', image: pubRef, autostart: false }, alice.token);
  assert.equal(pub.status, 200, JSON.stringify(pub.json));
  assert.ok((await imageUrls(bob)).some((u) => u.includes('/pub/hello:v1')));
  assert.equal((await bob.v2('GET', '/v2/pub/hello/manifests/v1', { headers: ACCEPT })).status, 200);
  const bobPub = await n!.api('POST', '/v1/instances', { name: 'bob-pub', image: { url: pubRef, pull_policy: 'never' }, autostart: false }, bob.token);
  assert.equal(bobPub.status, 200, JSON.stringify(bobPub.json));
  assert.equal(open!.count('GET', '/v2/pub/hello/manifests/v1', 200), 1, 'pulled once, then shared');
});
