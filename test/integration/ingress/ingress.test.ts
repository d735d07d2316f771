/**
 * The ingress with a real node: two hello instances behind one service
 * group (hello.localhost: 443 tls+http → 8080, 80 http+redirect), reached
 * through the node's mapped local ports with curl and the node's CA.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { exec } from '../../../src/lib/exec.js';
import { eventually, useTestNode } from '../../helpers/node.js';

const t = useTestNode();

const SERVICES = [
  { port: 443, destination_port: 8080, handlers: ['tls', 'http'] },
  { port: 80, destination_port: 8080, handlers: ['http', 'redirect'] },
];

interface Curl {
  code: number;
  status: number;
  body: string;
  location: string;
}

/** curl against the node's ingress: `--resolve` pins the name to loopback, `--cacert` trusts only the node's CA. */
async function curl(url: string, extra: string[] = []): Promise<Curl> {
  const { home } = t.n.config;
  const u = new URL(url);
  const r = await exec('curl', ['-sS', '--max-time', '10', '--cacert', join(home, 'ca.pem'), '--resolve', `${u.hostname}:${u.port}:127.0.0.1`, '-o', '-', '-w', '\n%{http_code} %{redirect_url}', ...extra, url], { allowFailure: true, timeoutMs: 15_000 });
  const out = r.stdout.toString();
  const nl = out.lastIndexOf('\n');
  const [status, location] = out.slice(nl + 1).split(' ');
  return { code: r.code, status: Number(status), body: out.slice(0, nl), location: location ?? '' };
}

test('HTTPS through the ingress: CA-verified, both instances get traffic, 80 redirects, unknown and foreign names never reach an app', async (ctx) => {
  const { api, node } = t.n;
  const g = await api('POST', '/v1/services', { name: 'hello', services: SERVICES, domains: [{ name: 'hello' }] });
  assert.equal(g.status, 200, JSON.stringify(g.json));
  for (const name of ['hello-a', 'hello-b']) {
    const r = await api('POST', '/v1/instances', { name, image: 'hello:latest', autostart: true, service_group: { name: 'hello' } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }
  // Another user's group and instance on the same node.
  const bob = await api('POST', '/v1/users', { name: 'bob-ingress' });
  assert.equal(bob.status, 200, JSON.stringify(bob.json));
  const bobToken = String(bob.items[0]!['token']);
  // The node's teardown deletes the admin's instances only: Bob's goes here, even when the test fails.
  ctx.after(async () => {
    await api('DELETE', '/v1/instances', [{ name: 'bob-app' }], bobToken);
  });
  assert.equal((await api('POST', '/v1/services', { name: 'bobweb', services: SERVICES.slice(0, 1), domains: [{ name: 'bobweb' }] }, bobToken)).status, 200);
  assert.equal((await api('POST', '/v1/instances', { name: 'bob-app', image: 'hello:latest', autostart: true, service_group: { name: 'bobweb' } }, bobToken)).status, 200);

  const https = await eventually(async () => node.ingress.localPort(443));
  const http = await eventually(async () => node.ingress.localPort(80));
  const url = `https://hello.localhost:${https}/`;

  const seen = new Set<string>();
  await eventually(async () => {
    const r = await curl(url);
    if (r.code !== 0 || r.status !== 200) return undefined;
    assert.match(r.body, /^Hello from hangar! \((hello-a|hello-b)\)/);
    seen.add(/\((.+)\)/.exec(r.body)![1]!);
    return seen.size === 2 ? true : undefined;
  }, 30_000, 20);
  assert.deepEqual([...seen].sort(), ['hello-a', 'hello-b']);

  // Port 80 of the group redirects to https with the path.
  const redirect = await curl(`http://hello.localhost:${http}/some/path?q=1`);
  assert.equal(redirect.status, 308);
  assert.equal(redirect.location, 'https://hello.localhost/some/path?q=1');

  // A name no group holds: 404 on plain HTTP, a failed handshake on TLS; never an app's answer.
  const unknown = await curl(`http://nope.localhost:${http}/`);
  assert.equal(unknown.status, 404);
  assert.doesNotMatch(unknown.body, /Hello from hangar/);
  const unknownTls = await curl(`https://nope.localhost:${https}/`);
  assert.notEqual(unknownTls.code, 0, 'the TLS handshake fails');
  assert.doesNotMatch(unknownTls.body, /Hello from hangar/);

  // Bob's domain answers with Bob's app; reaching it with Host over alice's TLS connection is refused.
  const bobs = await eventually(async () => {
    const r = await curl(`https://bobweb.localhost:${https}/`);
    return r.status === 200 ? r : undefined;
  }, 30_000);
  assert.match(bobs.body, /\(bob-app\)/);
  const crossed = await curl(url, ['-H', `Host: bobweb.localhost:${https}`]);
  assert.equal(crossed.status, 421);
  assert.doesNotMatch(crossed.body, /Hello from hangar/);

  // Node's own client with the node's CA as its only trust anchor.
  const viaNode = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: https, servername: 'hello.localhost', headers: { host: 'hello.localhost' }, ca: readFileSync(join(t.n.config.home, 'ca.pem')), agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  assert.match(viaNode, /^Hello from hangar! \(hello-(a|b)\)/);

  // A stopped group answers 503 once its instances are stopped.
  for (const name of ['hello-a', 'hello-b']) assert.equal((await api('PUT', '/v1/instances/stop', [{ name }])).status, 200);
  await eventually(async () => ((await curl(url)).status === 503 ? true : undefined), 30_000);
});
