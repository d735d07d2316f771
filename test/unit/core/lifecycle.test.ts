import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STOP_REASONS } from '../../../src/core/instance.js';
import { fakeLifecycle } from '../../helpers/core-fakes.js';

/** The lifecycle's timers, driven by a fake clock over in-memory fakes of the ports. */

test('restart back-off: immediate, then 5 s, then 10 s; a healthy run resets it', async () => {
  const h = fakeLifecycle();
  const inst = await h.running({ restartPolicy: 'always' });
  const L = h.lifecycle;
  const crashAndCheck = async (delayMs: number, attempt: number, startCount: number): Promise<void> => {
    h.runtime.exit(inst.uuid, { exitCode: 1 });
    await h.clock.advance(0);
    if (delayMs > 0) {
      const stopped = await h.get(inst.uuid);
      assert.equal(stopped.state, 'stopped');
      assert.equal(stopped.stopReason, STOP_REASONS.appExit);
      assert.deepEqual(stopped.restart, { attempt, nextAt: new Date(h.clock.now().getTime() + delayMs).toISOString() });
      await h.clock.advance(delayMs - 1);
      assert.equal((await h.get(inst.uuid)).state, 'stopped', `not restarted before ${delayMs} ms`);
      await h.clock.advance(1);
    }
    const again = await h.get(inst.uuid);
    assert.equal(again.state, 'running', `restarted after ${delayMs} ms`);
    assert.equal(again.startCount, startCount);
    assert.equal(again.restart?.attempt, attempt);
  };
  await crashAndCheck(0, 0, 2);
  await crashAndCheck(5_000, 1, 3);
  await crashAndCheck(10_000, 2, 4);
  await crashAndCheck(20_000, 3, 5);
  await h.clock.advance(10_000); // a run this long counts as healthy
  await crashAndCheck(0, 0, 6);
  assert.equal((await h.get(inst.uuid)).restartCount, 5);
  L.close();
  assert.equal(h.clock.pending(), 0, 'close cancels restart timers');
});

test('a requested stop never restarts, and cancels a pending restart', async () => {
  const h = fakeLifecycle();
  const inst = await h.running({ restartPolicy: 'always' });
  h.runtime.exit(inst.uuid, { exitCode: 1 });
  await h.clock.advance(0); // attempt 0: restarted at once
  h.runtime.exit(inst.uuid, { exitCode: 1 });
  await h.clock.advance(0);
  assert.equal((await h.get(inst.uuid)).restart?.attempt, 1);
  const stopped = await h.stop(inst.uuid);
  assert.equal(stopped.state, 'stopped');
  assert.equal(stopped.restart, undefined);
  await h.clock.advance(60_000);
  assert.equal((await h.get(inst.uuid)).state, 'stopped');
});

test('drain, then stop: SIGTERM only once the drain period is over', async () => {
  const h = fakeLifecycle();
  const inst = await h.running();
  const r = await h.stop(inst.uuid, { drainTimeoutMs: 3_000 });
  assert.equal(r.state, 'draining');
  await h.clock.advance(2_999);
  assert.equal((await h.get(inst.uuid)).state, 'draining');
  assert.ok(h.kills().length === 0, 'no signal while draining');
  await h.clock.advance(1);
  const done = await h.get(inst.uuid);
  assert.equal(done.state, 'stopped');
  assert.equal(done.stopReason, STOP_REASONS.userStop);
  assert.equal(done.stopCode, 15);
  assert.deepEqual(h.kills(), [`kill ${inst.uuid} SIGTERM`]);
  assert.equal(done.uptimeMs, 3_000);
});

test('stop grace: SIGKILL when the app ignores SIGTERM for stopGraceMs', async () => {
  const h = fakeLifecycle({ stopGraceMs: 10_000 });
  h.runtime.diesOn.delete('SIGTERM');
  const inst = await h.running();
  const r = await h.stop(inst.uuid);
  assert.equal(r.state, 'stopping');
  await h.clock.advance(9_999);
  assert.deepEqual(h.kills(), [`kill ${inst.uuid} SIGTERM`]);
  assert.equal((await h.get(inst.uuid)).state, 'stopping');
  await h.clock.advance(1);
  assert.deepEqual(h.kills(), [`kill ${inst.uuid} SIGTERM`, `kill ${inst.uuid} SIGKILL`]);
  const done = await h.get(inst.uuid);
  assert.equal(done.state, 'stopped');
  assert.equal(done.stopReason, STOP_REASONS.userStop, 'a user stop stays a user stop even if it took SIGKILL');
  assert.equal(done.stopCode, 9);
});

test('a forced stop sends SIGKILL at once', async () => {
  const h = fakeLifecycle();
  const inst = await h.running();
  await h.stop(inst.uuid, { force: true });
  await h.clock.advance(0);
  assert.deepEqual(h.kills(), [`kill ${inst.uuid} SIGKILL`]);
  assert.equal((await h.get(inst.uuid)).stopReason, STOP_REASONS.userForcedStop);
});

test('exit → stop reason: app exit, crash, out of memory', async () => {
  const h = fakeLifecycle();
  for (const [exit, reason, code] of [
    [{ exitCode: 0 }, STOP_REASONS.appExit, undefined],
    [{ signal: 'SIGSEGV' }, STOP_REASONS.crash, 11],
    [{ signal: 'SIGKILL', oomKilled: true }, STOP_REASONS.outOfMemory, 9],
  ] as const) {
    const inst = await h.running();
    h.runtime.exit(inst.uuid, exit);
    await h.clock.advance(0);
    const done = await h.get(inst.uuid);
    assert.equal(done.state, 'stopped');
    assert.equal(done.stopReason, reason, JSON.stringify(exit));
    assert.equal(done.stopCode, code);
  }
});

test('readiness polling records net_time_us once the app listens', async () => {
  const h = fakeLifecycle();
  h.runtime.listensAfterMs = 250;
  const inst = await h.running();
  await h.clock.advance(200);
  assert.equal((await h.get(inst.uuid)).netTimeUs, undefined);
  await h.clock.advance(200);
  const t = (await h.get(inst.uuid)).netTimeUs;
  assert.ok(t !== undefined && t >= 250_000 && t <= 350_000, `net_time_us ${t}`);
  assert.equal(h.clock.pending(), 0, 'polling ends once the app listens');
});

test('uptime counts the run in progress on the clock', async () => {
  const h = fakeLifecycle();
  const inst = await h.running({ uptimeMs: 500 });
  const L = h.lifecycle;
  await h.clock.advance(1_234);
  assert.equal(L.uptimeMs(await h.get(inst.uuid)), 1_734);
});

test('reconcile touches only this node\'s instances and adopts records without a node', async () => {
  const h = fakeLifecycle();
  const mineUp = await h.add({ state: 'running', startedAt: h.clock.now().toISOString() });
  h.runtime.put(mineUp.uuid, 'running');
  const mineGone = await h.add({ state: 'running', restartPolicy: 'never' });
  const legacyGone = await h.add({ node: undefined, state: 'running' });
  const otherRunning = await h.add({ node: 'node-b', state: 'running' });
  const otherPending = await h.add({ node: 'node-b', state: 'stopped', restartPolicy: 'always', restart: { attempt: 1, nextAt: h.clock.now().toISOString() } });
  h.runtime.put('11111111-1111-4111-8111-111111111111', 'running'); // no instance owns it

  const r = await h.lifecycle.reconcile();
  assert.deepEqual(r, { claimed: 1, adopted: 1, stopped: 2, orphans: 1 });

  assert.equal((await h.get(mineUp.uuid)).state, 'running');
  for (const uuid of [mineGone.uuid, legacyGone.uuid]) {
    const s = await h.get(uuid);
    assert.equal(s.state, 'stopped');
    assert.equal(s.stopReason, STOP_REASONS.platformStop);
    assert.equal(s.node, 'node-a');
  }
  assert.deepEqual(await h.get(otherRunning.uuid), otherRunning, 'another node\'s instance is left as it is');
  assert.deepEqual(await h.get(otherPending.uuid), otherPending);
  await h.clock.advance(600_000);
  assert.equal((await h.get(otherPending.uuid)).state, 'stopped', 'another node\'s pending restart is not run here');
  assert.ok(!h.runtime.calls.includes(`start ${otherPending.uuid}`));

  h.runtime.exit(mineUp.uuid, { exitCode: 0 });
  await h.clock.advance(0);
  assert.equal((await h.get(mineUp.uuid)).state, 'stopped', 'the adopted sandbox\'s exit is watched');
  h.lifecycle.close();
});

test('reconcile resumes a pending restart of this node\'s instance, one back-off step later', async () => {
  const h = fakeLifecycle();
  const inst = await h.add({ restartPolicy: 'always', restart: { attempt: 2, nextAt: h.clock.now().toISOString() } });
  await h.lifecycle.reconcile();
  assert.equal((await h.get(inst.uuid)).restart?.attempt, 3);
  await h.clock.advance(19_999);
  assert.equal((await h.get(inst.uuid)).state, 'stopped');
  await h.clock.advance(1);
  assert.equal((await h.get(inst.uuid)).state, 'running');
  h.lifecycle.close();
});

test('close waits for exit handling under way and records it; an exit after close is left to reconcile', async () => {
  const h = fakeLifecycle();
  const a = await h.running();
  const b = await h.running();
  // The sandbox removal of a's exit is slow: its record is written only after it, while close is already waiting.
  let finishRemove: () => void = () => undefined;
  const remove = h.runtime.remove.bind(h.runtime);
  h.runtime.remove = async (id: string): Promise<void> => {
    if (id === a.uuid) await new Promise<void>((r) => (finishRemove = r));
    return remove(id);
  };
  h.runtime.exit(a.uuid, { exitCode: 0 });
  await new Promise((r) => setImmediate(r));
  let closed = false;
  const closing = h.lifecycle.close().then(() => (closed = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(closed, false, 'close waits for the exit in flight');
  h.runtime.exit(b.uuid, { exitCode: 0 }); // seen after close began: not handled here
  finishRemove();
  await closing;
  const ra = await h.get(a.uuid);
  assert.equal(ra.state, 'stopped');
  assert.equal(ra.stopReason, STOP_REASONS.appExit);
  assert.equal((await h.get(b.uuid)).state, 'running', 'the next node reconciles b');
});
