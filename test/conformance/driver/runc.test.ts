/** The driver conformance suite against real runc (needs root, runc, gcc for the shim). */
import { readFileSync } from 'node:fs';
import { RuncDriver } from '../../../src/runtime/runc/driver.js';
import { buildShim } from '../../integration/runtime/fixtures.js';
import { runcLeftovers } from '../../integration/runtime/runc-leftovers.js';
import { driverConformance } from './suite.js';

const shimPath = buildShim();

driverConformance({
  name: 'runc',
  make: (stateDir) => new RuncDriver({ stateDir, shimPath }),
  leftovers: runcLeftovers,
  frozen: (id) => readFileSync(`/sys/fs/cgroup/freezer/hangar/${id}/freezer.state`, 'utf8').trim() === 'FROZEN',
});
