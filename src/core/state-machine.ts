import { HangarError } from '../lib/errors.js';
import type { InstanceState } from './instance.js';

/**
 * Which state changes the platform makes, and on which event. Everything that
 * changes `Instance.state` goes through `transition`, so an illegal change is a
 * bug caught here rather than a record that lies.
 */
export type InstanceEvent =
  | 'start' // user start, autostart, restart policy, or wake from standby
  | 'started' // the app process exists
  | 'start_failed'
  | 'drain' // stop with a drain period
  | 'stop' // stop requested (after drain, or directly)
  | 'exited' // the app ended (by itself or because it was stopped)
  | 'suspend'
  | 'suspended';

const TABLE: Record<InstanceEvent, Partial<Record<InstanceState, InstanceState>>> = {
  start: { stopped: 'starting', standby: 'starting' },
  started: { starting: 'running' },
  start_failed: { starting: 'stopped' },
  drain: { running: 'draining' },
  stop: { running: 'stopping', draining: 'stopping', starting: 'stopping', standby: 'stopping' },
  exited: { running: 'stopping', draining: 'stopping', stopping: 'stopped', starting: 'stopped' },
  suspend: { running: 'stopping' },
  suspended: { stopping: 'standby' },
};

export function canTransition(from: InstanceState, event: InstanceEvent): boolean {
  return TABLE[event][from] !== undefined;
}

export function transition(from: InstanceState, event: InstanceEvent): InstanceState {
  const to = TABLE[event][from];
  if (to === undefined) {
    throw new HangarError('failed_precondition', `cannot ${event.replace('_', ' ')} an instance in state '${from}'`);
  }
  return to;
}
