/** What a runc sandbox can leave on the host, for "nothing left behind" checks. Not a test file by itself. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The cgroup hierarchies of this host that hold a directory for the sandbox. */
function cgroupDirs(id: string): string[] {
  return readdirSync('/sys/fs/cgroup')
    .map((h) => join('/sys/fs/cgroup', h, 'hangar', id))
    .filter((d) => existsSync(d));
}

function runcKnows(stateDir: string, id: string): boolean {
  try {
    execFileSync('runc', ['--root', join(stateDir, 'runc'), 'state', id], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** Host mounts made for `id` (its writable root, tmpfs, sysfs). */
function hostMounts(id: string, stateDir: string): string[] {
  const dir = join(stateDir, 'roots', id);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

/** Cgroup directories, runc state, host mounts and the sandbox dirs of `id` still present (empty = none). */
export function runcLeftovers(id: string, stateDir: string): string[] {
  return [
    ...cgroupDirs(id).map((d) => `cgroup directory ${d}`),
    ...(runcKnows(stateDir, id) ? ['runc still has the container'] : []),
    ...(existsSync(join(stateDir, 'sandboxes', id)) ? ['sandbox dir'] : []),
    ...hostMounts(id, stateDir).map((m) => `mount ${m}`),
    ...(existsSync(join(stateDir, 'roots', id)) ? ['root dir'] : []),
  ];
}
