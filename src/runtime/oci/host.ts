/** Facts about the host the runc config depends on, read once per driver. */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
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

/**
 * Every host sysfs folder that lists network interfaces: /sys/class/net and the
 * `net` folder of each device (virtual ones under /sys/devices/virtual/net,
 * NICs under their bus device). Read per start: veths come and go.
 */
export function hostNetSysDirs(): string[] {
  const dirs = new Set(['/sys/class/net', '/sys/devices/virtual/net']);
  let names: string[] = [];
  try {
    names = readdirSync('/sys/class/net');
  } catch {
    return [...dirs];
  }
  for (const name of names) {
    try {
      dirs.add(dirname(realpathSync(`/sys/class/net/${name}`)));
    } catch {
      // gone between readdir and realpath (a veth being removed)
    }
  }
  return [...dirs];
}
