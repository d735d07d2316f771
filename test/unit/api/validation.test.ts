import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { BAD_REQUESTS } from '../../helpers/bad-requests.js';
import { apiHarness } from './harness.js';

const h = apiHarness();
after(() => h.close());

test(`the bad-request table has at least 40 cases (${BAD_REQUESTS.length})`, () => {
  assert.ok(BAD_REQUESTS.length >= 40);
});

for (const bad of BAD_REQUESTS) {
  test(`rejects: ${bad.what}`, async () => {
    const r = await h.call(bad.method, bad.path, { ...(bad.body !== undefined ? { body: bad.body } : {}), ...(bad.rawBody !== undefined ? { rawBody: bad.rawBody } : {}), ...(bad.auth !== undefined ? { auth: bad.auth } : {}) });
    assert.equal(r.status, bad.status, JSON.stringify(r.json));
    assert.equal(r.json.status, 'error');
    assert.equal(typeof r.json.op_time_us, 'number');
    const text = `${r.json.message ?? ''} ${JSON.stringify(r.json.errors ?? [])}`;
    assert.ok(text.includes(bad.mentions), `error should mention '${bad.mentions}': ${text}`);
  });
}

test('no bad request left a record behind', async () => {
  assert.equal((await h.store.allInstances()).length, 0);
});
