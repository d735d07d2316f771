/**
 * The node is not a proxy: which registries and addresses a pull may reach
 * (image/egress.ts), refusals before any connection (the transport's
 * address guard, against loopback listeners that count accepts), and which
 * ImageSpec headers reach a registry.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { RegistryClient } from '../../../src/distribution/client.js';
import { RegistryEgress } from '../../../src/image/egress.js';
import { HangarError } from '../../../src/lib/errors.js';
import { containerImage, storeInRegistry } from '../unikraft/layouts.js';
import { imagesHarness } from './harness.js';

test('only central and allow-listed registries; loopback, link-local and own subnets only when configured', () => {
  const dflt = new RegistryEgress({ central: 'http://127.0.0.1:5000', subnets: ['10.77.0.0/16'] });
  assert.equal(dflt.mayPullFrom('127.0.0.1:5000'), true, 'central');
  assert.equal(dflt.mayPullFrom('127.0.0.1:18998'), false);
  assert.equal(dflt.mayPullFrom('ghcr.io'), true, 'a well-known public registry');
  assert.equal(dflt.mayPullFrom('registry.internal:5000'), false);
  assert.equal(dflt.addressAllowed('127.0.0.1:5000', '127.0.0.1'), true, 'central is configured');
  for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.2', '169.254.169.254', 'fe80::1', '0.0.0.0', '10.77.3.4']) {
    assert.equal(dflt.addressAllowed('ghcr.io', ip), false, ip);
  }
  assert.equal(dflt.addressAllowed('ghcr.io', '140.82.112.34'), true);

  const listed = new RegistryEgress({ allowed: ['127.0.0.1:18999', 'registry.lan'] });
  assert.equal(listed.mayPullFrom('127.0.0.1:18999'), true);
  assert.equal(listed.mayPullFrom('127.0.0.1:18998'), false, 'another port of a listed host:port');
  assert.equal(listed.mayPullFrom('registry.lan:5000'), true, 'an entry without a port allows any');
  assert.equal(listed.mayPullFrom('ghcr.io'), false, 'an explicit list replaces the defaults');
  assert.equal(listed.addressAllowed('127.0.0.1:18999', '127.0.0.1'), true, 'what the admin listed may be anywhere');
  assert.equal(listed.addressAllowed('elsewhere.example:443', '127.0.0.1'), false, 'a redirect target is not configured');
  assert.deepEqual(RegistryEgress.authHeaders({ Authorization: 'Basic x', 'X-Internal': 'y', Cookie: 'z' }), { Authorization: 'Basic x' });
});

let listener: Server;
let port: number;
let accepts = 0;
before(async () => {
  listener = createServer((s) => {
    accepts++;
    s.destroy();
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  port = (listener.address() as { port: number }).port;
});
after(async () => {
  await new Promise((r) => listener.close(r));
});

test('a refused address is never connected to, by IP literal or by name', async () => {
  for (const registry of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
    const c = new RegistryClient({ registry, timeoutMs: 2000, allowAddress: () => false });
    await assert.rejects(c.ping(), (e: unknown) => e instanceof HangarError, registry);
    c.close();
  }
  assert.equal(accepts, 0);
  const allowed = new RegistryClient({ registry: `http://localhost:${port}`, timeoutMs: 2000, allowAddress: () => true });
  await assert.rejects(allowed.ping());
  allowed.close();
  assert.ok(accepts >= 1, 'the guard lets an allowed address through');
});

test('of an ImageSpec\'s headers only Authorization reaches the registry', async () => {
  const h = await imagesHarness({ central: true, centralAuth: false });
  try {
    await storeInRegistry(h.remote!.registry, { repo: 'library/app', tag: 'v1' }, containerImage('app-1'));
    const auth = `Basic ${Buffer.from(`node:${h.remote!.token}`).toString('base64')}`;
    const r = await h.call('POST', '/v1/instances', { body: { name: 'hdr', image: { url: 'library/app:v1', headers: { Authorization: auth, 'X-Internal-Secret': 's', Cookie: 'c=1' } }, autostart: false } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.ok(h.remote!.requests.includes('GET /v2/library/app/manifests/v1'), 'pulled with the ImageSpec\'s Authorization');
    assert.ok(h.remote!.headerNames.has('authorization'));
    assert.ok(!h.remote!.headerNames.has('x-internal-secret') && !h.remote!.headerNames.has('cookie'), [...h.remote!.headerNames].join(' '));
  } finally {
    await h.close();
  }
});
