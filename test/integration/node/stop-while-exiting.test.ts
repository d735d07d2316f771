/**
 * A node stopped while its instances are exiting (issue 8 of 8, point 6): the
 * exit handling already under way finishes before the database closes (no
 * "database connection is not open" in the log), and after a restart every
 * record is final (stopped, with a stop reason), whoever recorded it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { startNode, type RunningNode } from '../../../src/node/node.js';
import { exec } from '../../../src/lib/exec.js';
import { HELLO_ARCHIVE, apiClient, sleep, teardown, testConfig } from '../../helpers/node.js';

const N = 6;

test('stopping a node while its instances exit: no store error, final records after a restart', async () => {
  const config = testConfig();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const logger = pino({ name: 'hangar-test', level: 'info' }, sink);
  let node: RunningNode | undefined;
  try {
    node = await startNode(config, logger);
    await node.images.import(HELLO_ARCHIVE, { ref: 'hello:latest' });
    const api = apiClient(node.url, node.adminToken!);
    const made = await api('POST', '/v1/instances', Array.from({ length: N }, (_, i) => ({ name: `exiting-${i}`, image: 'hello:latest' })));
    assert.equal(made.status, 200, JSON.stringify(made.json));
    const uuids = made.items.map((i) => String(i['uuid']));
    assert.equal(uuids.length, N);
    // The apps are killed from outside (as a crash would) while the node stops: their exits reach a node whose
    // store is closing or closed. Another half is stopped through the API just before, so exits are in flight too.
    const half = uuids.slice(0, N / 2);
    const stopped = await api('PUT', '/v1/instances/stop', half.map((uuid) => ({ uuid, force: true })));
    assert.equal(stopped.status, 200, JSON.stringify(stopped.json));
    const first = node;
    node = undefined;
    const runcRoot = join(config.home, 'run', 'runc');
    await Promise.all([
      first.stop(),
      ...uuids.slice(N / 2).map((uuid) => exec('runc', ['--root', runcRoot, 'kill', uuid, 'KILL'], { allowFailure: true, timeoutMs: 10_000 })),
    ]);
    await sleep(1500); // exits that arrive after the stop surface now, if anything still handles them
    const bad = lines.filter((l) => /database connection is not open|exit handling failed/.test(l));
    assert.deepEqual(bad, [], 'no exit handling hit a closed store');

    node = await startNode(config, logger);
    const again = apiClient(node.url, node.adminToken!);
    const list = await again('GET', '/v1/instances?details=true');
    assert.equal(list.status, 200, JSON.stringify(list.json));
    const mine = list.items.filter((i) => uuids.includes(String(i['uuid'])));
    assert.equal(mine.length, N);
    for (const i of mine) {
      assert.equal(i['state'], 'stopped', JSON.stringify(i));
      assert.equal(typeof i['stop_reason'], 'number', JSON.stringify(i));
    }
  } finally {
    // Whatever failed, a node deletes what is left (the first one may be stopped already).
    const n = node ?? (await startNode(config, logger).catch(() => undefined));
    await teardown(config, async () => {
      if (!n) return;
      const api = apiClient(n.url, n.adminToken!);
      const all = await api('GET', '/v1/instances?details=false').catch(() => undefined);
      if (all && all.items.length > 0) await api('DELETE', '/v1/instances', all.items.map((i) => ({ uuid: i['uuid'] })));
      await n.stop();
    });
  }
});
