import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useTestNode } from '../../helpers/node.js';

const shared = useTestNode();

/** Polls healthz one request after the other until `done` settles; returns each latency in ms. */
async function healthzWhile(url: string, done: Promise<unknown>): Promise<number[]> {
  let finished = false;
  void done.finally(() => (finished = true));
  const lat: number[] = [];
  for (let i = 0; i < 100_000 && !finished; i++) {
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/healthz`);
    await r.arrayBuffer();
    lat.push(performance.now() - t0);
  }
  return lat;
}

test('healthz answers within 1 s while a 300-instance bulk create and bulk delete run; per-item results kept', async () => {
  const { url, api } = shared.n;
  const body = Array.from({ length: 300 }, (_, i) => ({ name: `bulk-${i}`, image: 'hello:latest', autostart: false }));
  const creating = api('POST', '/v1/instances', body);
  const duringCreate = await healthzWhile(url, creating);
  const made = await creating;
  assert.equal(made.status, 200, JSON.stringify(made.json).slice(0, 500));
  assert.equal(made.items.filter((e) => e['status'] === 'success').length, 300);

  // One unknown name among them: its entry is an in-band not-found, in place.
  const refs = [...made.items.map((e) => ({ uuid: String(e['uuid']) })), { name: 'no-such-bulk' }];
  const deleting = api('DELETE', '/v1/instances', refs);
  const duringDelete = await healthzWhile(url, deleting);
  const gone = await deleting;
  assert.equal(gone.items.length, 301);
  assert.deepEqual(gone.items.slice(0, 300).map((e) => e['uuid']), made.items.map((e) => e['uuid']));
  assert.ok(gone.items.slice(0, 300).every((e) => e['status'] === 'success'), JSON.stringify(gone.items.find((e) => e['status'] !== 'success')));
  assert.equal(gone.items[300]!['error'], 8);
  assert.equal((await api('GET', '/v1/instances?details=false')).items.length, 0);

  const worst = (l: number[]): number => Math.max(0, ...l);
  assert.ok(duringCreate.length > 0 && duringDelete.length > 0, 'healthz was polled during both');
  assert.ok(worst(duringCreate) < 1000, `healthz took up to ${worst(duringCreate).toFixed(0)} ms during the bulk create`);
  assert.ok(worst(duringDelete) < 1000, `healthz took up to ${worst(duringDelete).toFixed(0)} ms during the bulk delete`);
});
