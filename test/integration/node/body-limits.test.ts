import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { after, test } from 'node:test';
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

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/**
 * POSTs `mb` MiB of body, with a Content-Length or chunked; resolves with the
 * status once the answer arrives, then stops sending.
 */
function postLarge(url: string, token: string, mb: number, chunked: boolean): Promise<number> {
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    if (chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = mb * chunk.length;
    let answered = false;
    const req = request(`${url}/v1/instances`, { method: 'POST', headers }, (res) => {
      answered = true;
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    // Writes already queued when the node closes the connection fail with EPIPE: expected, not a client crash.
    req.on('socket', (sock) => sock.on('error', () => undefined));
    let sent = 0;
    const pump = (): void => {
      while (!answered && sent < mb) {
        sent++;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}

test('five concurrent 200 MB bodies (declared and chunked) are 413s and the node stays near idle memory', async () => {
  const started = await spawnNodeProcess(config, port);
  child = started.child;
  const pid = child.pid!;
  await sleep(500);
  const idle = rssMb(pid);
  let peak = idle;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, rssMb(pid));
      await sleep(20);
    }
  })();
  const statuses = await Promise.all([true, false, true, false, true].map((chunked) => postLarge(started.url, started.token, 200, chunked)));
  await sleep(300);
  sampling = false;
  await sampler;
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
