import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import type { NodeCapacity } from '../core/instances/admission.js';
import type { Logger } from '../lib/log.js';

/**
 * Host limits a node with many sandboxes outgrows. Every sandbox's init gets a
 * new session keyring owned by the mapped uid (all sandboxes share it), and the
 * kernel's default quota for a non-root uid is 200 keys / 20000 bytes: past
 * that, starts fail with "unable to create session key: disk quota exceeded".
 * These are the values LXD recommends for hosts running many containers.
 */
const MINIMUMS: Record<string, number> = {
  '/proc/sys/kernel/keys/maxkeys': 1_000_000,
  '/proc/sys/kernel/keys/maxbytes': 25_000_000,
};

export function tuneHost(logger: Logger): void {
  for (const [file, min] of Object.entries(MINIMUMS)) {
    try {
      const cur = Number(readFileSync(file, 'utf8').trim());
      if (cur >= min) continue;
      writeFileSync(file, `${min}\n`);
      logger.info({ file, from: cur, to: min }, 'raised host limit for many sandboxes');
    } catch (e) {
      logger.warn({ file, err: String(e) }, 'could not raise host limit; many concurrent sandboxes may fail to start');
    }
  }
}

/** What the node admits at once: the host's memory and cores times the overcommit ratios. */
export function nodeCapacity(overcommit: { memory: number; cpu: number }): NodeCapacity {
  return {
    memoryMb: Math.floor((totalmem() / (1024 * 1024)) * overcommit.memory),
    vcpus: Math.floor(availableParallelism() * overcommit.cpu),
  };
}
