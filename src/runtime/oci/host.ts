/** Facts about the host the runc config depends on, read once per driver. */
import { existsSync, readFileSync } from 'node:fs';
import { NOFILE_LIMIT } from './spec.js';

/** The kernel has cgroup namespaces. */
export const hasCgroupNamespace = (): boolean => existsSync('/proc/self/ns/cgroup');

/**
 * RLIMIT_NOFILE to give sandboxes: runc applies rlimits from inside the user
 * namespace, where it cannot raise the hard limit it inherited from us, so
 * use min(NOFILE_LIMIT, our hard limit).
 */
export function sandboxNofile(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    if (hard === 'unlimited') return NOFILE_LIMIT;
    const n = Number(hard);
    return Number.isInteger(n) && n > 0 ? Math.min(NOFILE_LIMIT, n) : 1024;
  } catch {
    return 1024;
  }
}
