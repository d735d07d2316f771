import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocateIdRanges } from '../../../src/core/instances/id-ranges.js';
import type { Instance } from '../../../src/core/instance.js';
import { HangarError } from '../../../src/lib/errors.js';
import { MAX_ID_RANGES } from '../../../src/lib/idmap.js';

const holding = (...ks: Array<number | undefined>): Instance[] => ks.map((idRange) => ({ idRange }) as Instance);

test('uid ranges: the lowest free ones from 1 (range 0 owns the shared rootfs), never one taken', () => {
  assert.deepEqual(allocateIdRanges([], 2), [1, 2]);
  assert.deepEqual(allocateIdRanges(holding(1, 3, undefined), 3), [2, 4, 5]);
  const full = holding(...Array.from({ length: MAX_ID_RANGES }, (_, i) => i + 1));
  assert.throws(() => allocateIdRanges(full, 1), (e: unknown) => e instanceof HangarError && e.kind === 'unavailable' && /uid ranges/.test(e.message));
});
