import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INSTANCE_STATES, STOP_REASONS } from '../../../src/core/instance.js';
import { canTransition, transition, type InstanceEvent } from '../../../src/core/state-machine.js';
import { HangarError } from '../../../src/lib/errors.js';

test('a created instance starts, runs, stops (UKC path stopped→starting→running→stopping→stopped)', () => {
  let s = transition('stopped', 'start');
  assert.equal(s, 'starting');
  s = transition(s, 'started');
  assert.equal(s, 'running');
  s = transition(s, 'stop');
  assert.equal(s, 'stopping');
  s = transition(s, 'exited');
  assert.equal(s, 'stopped');
});

test('a drain passes through draining before stopping', () => {
  assert.equal(transition('running', 'drain'), 'draining');
  assert.equal(transition('draining', 'stop'), 'stopping');
});

test('an app that exits by itself goes running→stopping→stopped', () => {
  assert.equal(transition('running', 'exited'), 'stopping');
  assert.equal(transition('stopping', 'exited'), 'stopped');
});

test('suspend goes running→stopping→standby and a wake starts again', () => {
  assert.equal(transition('running', 'suspend'), 'stopping');
  assert.equal(transition('stopping', 'suspended'), 'standby');
  assert.equal(transition('standby', 'start'), 'starting');
  assert.equal(transition('standby', 'stop'), 'stopping');
});

test('a failed start returns to stopped', () => {
  assert.equal(transition('starting', 'start_failed'), 'stopped');
});

test('templates and checkpoints accept no lifecycle event', () => {
  const events: InstanceEvent[] = ['start', 'started', 'start_failed', 'drain', 'stop', 'exited', 'suspend', 'suspended'];
  for (const from of ['template', 'checkpoint', 'deleted'] as const) {
    for (const ev of events) assert.equal(canTransition(from, ev), false, `${from} --${ev}`);
  }
});

test('illegal transitions throw a failed_precondition naming the state', () => {
  assert.throws(() => transition('stopped', 'suspend'), (e: unknown) => e instanceof HangarError && e.kind === 'failed_precondition' && /stopped/.test(e.message));
  assert.throws(() => transition('running', 'start'), HangarError);
  assert.throws(() => transition('stopped', 'started'), HangarError);
});

test('every transition lands on a known state', () => {
  const events: InstanceEvent[] = ['start', 'started', 'start_failed', 'drain', 'stop', 'exited', 'suspend', 'suspended'];
  for (const from of INSTANCE_STATES) {
    for (const ev of events) {
      if (canTransition(from, ev)) assert.ok(INSTANCE_STATES.includes(transition(from, ev)));
    }
  }
});

test('stop_reason values match the UKC docs', () => {
  assert.equal(STOP_REASONS.userStop, 15);
  assert.equal(STOP_REASONS.userForcedStop, 28);
  assert.equal(STOP_REASONS.platformStop, 7);
  assert.equal(STOP_REASONS.appExit, 3);
  assert.equal(STOP_REASONS.crash, 1);
  assert.equal(STOP_REASONS.suspend, 39);
});
