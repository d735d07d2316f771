import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BAD_REQUESTS } from '../../helpers/bad-requests.js';
import { useTestNode } from '../../helpers/node.js';
import { exec } from '../../../src/lib/exec.js';

const shared = useTestNode();

test(`${BAD_REQUESTS.length} bad requests against a real node: each a 4xx naming the field, nothing created`, async () => {
  for (const bad of BAD_REQUESTS) {
    const headers: Record<string, string> = {};
    const auth = bad.auth ?? `Bearer ${shared.n.token}`;
    if (auth !== '') headers['authorization'] = auth;
    const body = bad.rawBody ?? (bad.body !== undefined ? JSON.stringify(bad.body) : undefined);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${shared.n.url}${bad.path}`, { method: bad.method, headers, ...(body !== undefined ? { body } : {}) });
    const json = (await res.json()) as { status: string; message?: string };
    assert.equal(res.status, bad.status, `${bad.what}: ${JSON.stringify(json)}`);
    assert.ok((json.message ?? '').includes(bad.mentions), `${bad.what}: '${json.message}' should mention ${bad.mentions}`);
  }
  const list = await shared.n.api('GET', '/v1/instances');
  assert.equal(list.items.length, 0, 'no record');
  assert.deepEqual(await shared.n.node.network.list(), [], 'no netns');
  assert.deepEqual(await shared.n.node.runtime.list(), [], 'no sandbox');
  const ns = await exec('ip', ['netns', 'list']);
  assert.ok(!ns.stdout.includes(shared.n.config.network.netnsPrefix));
});

test('GET with a JSON body (go-sdk style) filters instances', async () => {
  await shared.n.api('POST', '/v1/instances', { name: 'gb-one', image: 'hello:latest', autostart: false });
  await shared.n.api('POST', '/v1/instances', { name: 'gb-two', image: 'hello:latest', autostart: false });
  // fetch refuses a body on GET, so this goes through node:http as go-sdk's client would.
  const payload = JSON.stringify([{ name: 'gb-two' }]);
  const { request } = await import('node:http');
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(`${shared.n.url}/v1/instances`, { method: 'GET', headers: { authorization: `Bearer ${shared.n.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => (s += d.toString())).on('end', () => resolve(s));
    });
    req.on('error', reject);
    req.end(payload);
  });
  const json = JSON.parse(text) as { data: { instances: Array<{ name: string }> } };
  assert.deepEqual(json.data.instances.map((i) => i.name), ['gb-two']);
});
