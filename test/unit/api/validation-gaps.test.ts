import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Envelope } from './harness.js';
import { apiHarness } from './harness.js';

/**
 * Inputs that used to be accepted and then failed at start (or never
 * answered): each is a 400 at the edge naming the field, and leaves no record.
 */
const h = apiHarness();
after(() => h.close());

const cases: { what: string; body: unknown; field: string }[] = [
  { what: 'timeout_s -1 without autostart', body: { image: 'hello:latest', autostart: false, timeout_s: -1 }, field: 'timeout_s' },
  { what: 'a NUL byte in an env value', body: { image: 'hello:latest', autostart: false, env: { A: 'x\u0000y' } }, field: 'env.A' },
  { what: 'a NUL byte in args', body: { image: 'hello:latest', autostart: false, args: ['/hello', 'a\u0000b'] }, field: 'args[1]' },
  { what: 'an empty program in args', body: { image: 'hello:latest', autostart: false, args: [''] }, field: 'args[0]' },
  { what: 'a NUL byte in a bulk item', body: [{ image: 'hello:latest', autostart: false, args: ['\u0000'] }], field: '[0].args[0]' },
];

for (const c of cases) {
  test(`create refuses ${c.what}, naming ${c.field}`, async () => {
    // A bounded wait: the -1 case used to hang forever.
    const r = await Promise.race([h.call('POST', '/v1/instances', { body: c.body }), new Promise<'hung'>((res) => setTimeout(() => res('hung'), 5000).unref())]);
    assert.notEqual(r, 'hung', 'the request never answered');
    if (r === 'hung') return;
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.ok((r.json.message ?? '').includes(c.field), `error should name '${c.field}': ${r.json.message}`);
  });
}

test('create refuses invalid UTF-8 in args instead of replacing it, naming the field', async () => {
  const head = Buffer.from('{"image":"hello:latest","autostart":false,"args":["/hello","');
  const bytes = Buffer.concat([head, Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('"]}')]);
  const res = await h.app.request('/v1/instances', { method: 'POST', headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/json' }, body: bytes });
  const json = (await res.json()) as Envelope;
  assert.equal(res.status, 400, JSON.stringify(json));
  assert.ok((json.message ?? '').includes('args[1]') && (json.message ?? '').includes('UTF-8'), String(json.message));
});

test('update refuses a NUL byte in args or env', async () => {
  const made = await h.call('POST', '/v1/instances', { body: { image: 'hello:latest', autostart: false, name: 'upd-nul' } });
  assert.equal(made.status, 200, JSON.stringify(made.json));
  const args = await h.call('PATCH', '/v1/instances', { body: { name: 'upd-nul', prop: 'args', op: 'set', value: ['/hello', 'a\u0000'] } });
  const env = await h.call('PATCH', '/v1/instances', { body: { name: 'upd-nul', prop: 'env', op: 'add', value: { K: '\u0000' } } });
  await h.call('DELETE', '/v1/instances', { body: { name: 'upd-nul' } });
  for (const r of [args, env]) {
    const text = JSON.stringify(r.json);
    assert.ok(text.includes('NUL'), text);
  }
});

test('valid args and env with non-ASCII UTF-8 are kept as sent', async () => {
  const r = await h.call('POST', '/v1/instances', { body: { image: 'hello:latest', autostart: false, name: 'utf8-ok', args: ['/hello', 'héllo ✓'], env: { A: 'ü' } } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const got = await h.call('GET', '/v1/instances?name=utf8-ok');
  await h.call('DELETE', '/v1/instances', { body: { name: 'utf8-ok' } });
  const inst = (got.json.data?.['instances'] as { args?: string[]; env?: Record<string, string> }[])[0];
  assert.deepEqual(inst?.args, ['/hello', 'héllo ✓']);
});

test('no refused create left a record behind', async () => {
  assert.equal((await h.store.allInstances()).length, 0);
});
