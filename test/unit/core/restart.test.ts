import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextAttempt, restartDelayMs, shouldRestart } from '../../../src/core/restart.js';

test('back-off is immediate, 5 s, 10 s, 20 s, 40 s … capped at 5 min', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 20].map(restartDelayMs), [0, 5000, 10000, 20000, 40000, 80000, 160000, 300000, 300000]);
});

test('the first restart, and one after a healthy run, is attempt 0', () => {
  assert.equal(nextAttempt(undefined, 100), 0);
  assert.equal(nextAttempt(3, 10_000), 0);
  assert.equal(nextAttempt(0, 200), 1);
  assert.equal(nextAttempt(4, 9_999), 5);
});

test('restart policies', () => {
  const ok = { exitCode: 0, signal: null, oomKilled: false, requested: false };
  const fail = { exitCode: 3, signal: null, oomKilled: false, requested: false };
  const killed = { exitCode: null, signal: 'SIGSEGV', oomKilled: false, requested: false };
  const oom = { exitCode: null, signal: 'SIGKILL', oomKilled: true, requested: false };
  assert.equal(shouldRestart('never', fail), false);
  assert.equal(shouldRestart('always', ok), true);
  assert.equal(shouldRestart('always', fail), true);
  assert.equal(shouldRestart('on-failure', ok), false);
  assert.equal(shouldRestart('on-failure', fail), true);
  assert.equal(shouldRestart('on-failure', killed), true);
  assert.equal(shouldRestart('on-failure', oom), true);
  assert.equal(shouldRestart('always', { ...fail, requested: true }), false, 'a user stop never restarts');
});
