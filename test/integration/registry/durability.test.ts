/**
 * A node process killed with SIGKILL in the middle of a chunked upload (a
 * chunk in flight): after a restart no partial blob is visible, the upload can
 * be retried in a fresh session to completion, and the old session resumes
 * from the bytes it had acknowledged.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { sleep, spawnNodeProcess, teardown, testConfig } from '../../helpers/node.js';
import { sha, v2Client } from './v2.js';

const isRoot = process.getuid?.() === 0;
const MiB = 1024 * 1024;

const freePort = (): Promise<number> =>
  new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });

const exited = (c: ChildProcess): Promise<void> => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r())));

test('SIGKILL mid-upload: nothing partial is visible, and the upload can be retried', { skip: isRoot ? false : 'needs root' }, async () => {
  const config = testConfig();
  const port = await freePort();
  let child: ChildProcess | undefined;
  try {
    let p = await spawnNodeProcess(config, port);
    child = p.child;
    let v2 = v2Client(p.url, p.token);
    const data = randomBytes(4 * MiB);
    const digest = sha(data);
    const start = await v2('POST', '/v2/durable/app/blobs/uploads/');
    assert.equal(start.status, 202);
    const loc = start.headers.get('location')!;
    for (const [a, b] of [[0, MiB], [MiB, 2 * MiB]] as const) {
      const r = await v2('PATCH', loc, { body: data.subarray(a, b), headers: { 'content-range': `${a}-${b - 1}` } });
      assert.equal(r.status, 202);
    }
    // a third chunk is half sent when the node dies
    const inflight = request(`${p.url}${loc}`, { method: 'PATCH', headers: { authorization: `Bearer ${p.token}`, 'content-range': `${2 * MiB}-${3 * MiB - 1}`, 'content-length': String(MiB) } });
    inflight.on('error', () => undefined);
    inflight.write(data.subarray(2 * MiB, 2 * MiB + MiB / 2));
    await sleep(300);
    child.kill('SIGKILL');
    await exited(child);
    inflight.destroy();
    const uploadFiles = readdirSync(join(config.home, 'images', 'uploads'));
    assert.equal(uploadFiles.length, 1, 'the session data survives the crash');

    p = await spawnNodeProcess(config, port);
    child = p.child;
    v2 = v2Client(p.url, p.token);
    assert.equal((await v2('HEAD', `/v2/durable/app/blobs/${digest}`)).status, 404, 'no partial blob');
    assert.ok(!existsSync(join(config.home, 'images', 'blobs', 'sha256', digest.slice(7))));
    // the old session kept what it acknowledged, not the half chunk
    const status = await v2('GET', loc);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${2 * MiB - 1}`);

    // retried in a fresh session, to completion
    const fresh = await v2('POST', '/v2/durable/app/blobs/uploads/');
    const floc = fresh.headers.get('location')!;
    assert.equal((await v2('PATCH', floc, { body: data })).status, 202);
    const done = await v2('PUT', `${floc}?digest=${digest}`);
    assert.equal(done.status, 201, done.body.toString());
    const got = await v2('GET', `/v2/durable/app/blobs/${digest}`);
    assert.ok(got.body.equals(data));

    // and the old session can still be finished from where it stood
    assert.equal((await v2('PATCH', loc, { body: data.subarray(2 * MiB), headers: { 'content-range': `${2 * MiB}-${4 * MiB - 1}` } })).status, 202);
    assert.equal((await v2('PUT', `${loc}?digest=${digest}`)).status, 201);
    assert.deepEqual(readdirSync(join(config.home, 'images', 'uploads')), []);
  } finally {
    await teardown(config, async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited(child);
      }
    });
  }
});
