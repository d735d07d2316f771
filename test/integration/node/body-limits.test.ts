import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { postLarge, rssMb, sampleRssPeak } from '../../helpers/large-body.js';
import { sleep, spawnNodeProcess, teardown, testConfig } from '../../helpers/node.js';

/**
 * Oversized `/v1` bodies against a node process: each is a 413, and the
 * node's memory stays near idle (it used to read every body whole first).
 */
const config = testConfig();
const port = 20000 + Math.floor(Math.random() * 20000);
let child: ChildProcess | undefined;

after(async () => {
  await teardown(config, async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
  });
});

test('five concurrent 200 MB bodies (declared and chunked) are 413s and the node stays near idle memory', async () => {
  const started = await spawnNodeProcess(config, port);
  child = started.child;
  const pid = child.pid!;
  await sleep(500);
  const idle = rssMb(pid);
  const sampler = sampleRssPeak(pid, 20);
  const statuses = await Promise.all([true, false, true, false, true].map((chunked) => postLarge(started.url, started.token, 200, chunked)));
  await sleep(300);
  const peak = await sampler.stop();
  const held = rssMb(pid);
  assert.deepEqual(statuses, [413, 413, 413, 413, 413]);
  assert.ok(peak - idle < 64, `peak RSS ${peak.toFixed(0)} MB vs idle ${idle.toFixed(0)} MB`);
  assert.ok(held - idle < 64, `held RSS ${held.toFixed(0)} MB vs idle ${idle.toFixed(0)} MB`);
  // The node still answers, and a 600 MB body is a 413 too (it used to be a 500).
  assert.equal(await postLarge(started.url, started.token, 600, false), 413);
  const health = await fetch(`${started.url}/v1/healthz`);
  assert.equal(health.status, 200);
});

test('a body just under the limit is read and parsed, not refused', async () => {
  assert.ok(child, 'the node runs');
  const token = readFileSync(`${config.home}/token`, 'utf8').trim();
  // 7 MiB of whitespace around a valid create: the size is not the problem, the body is (no image).
  const body = `${' '.repeat(7 * 1024 * 1024)}{"name":"x"}`;
  const res = await fetch(`http://127.0.0.1:${port}/v1/instances`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
  const json = (await res.json()) as { message?: string };
  assert.equal(res.status, 400, JSON.stringify(json));
  assert.ok((json.message ?? '').includes('image'), String(json.message));
});
