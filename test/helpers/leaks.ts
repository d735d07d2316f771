import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../src/lib/exec.js';

export interface LeakScope {
  home: string;
  netnsPrefix: string;
  bridge: string;
  /** The node's cgroup parent, e.g. /hangar-it-ab12cd: its children are that node's sandboxes. */
  cgroupParent: string;
}

const CGROUP_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer', 'devices', 'blkio', 'cpuset', 'systemd', 'unified'];

/**
 * Everything a node may leave on the host, checked after a test tore its node
 * down: runc containers, shim/runc processes, netns, veths, iptables chains,
 * mounts, loop devices backed by files under the home, cgroups.
 * Returns one line per leak (empty = clean).
 */
export async function findLeaks(s: LeakScope): Promise<string[]> {
  const leaks: string[] = [];
  const runcRoot = join(s.home, 'run', 'runc');
  if (existsSync(runcRoot)) {
    const r = await exec('runc', ['--root', runcRoot, 'list', '-q'], { allowFailure: true });
    for (const id of r.stdout.split('\n').filter(Boolean)) leaks.push(`runc container ${id}`);
  }
  const ns = await exec('ip', ['netns', 'list'], { allowFailure: true });
  for (const line of ns.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name.startsWith(s.netnsPrefix)) leaks.push(`netns ${name}`);
  }
  const links = await exec('ip', ['-o', 'link', 'show', 'master', s.bridge], { allowFailure: true });
  for (const line of links.stdout.split('\n').filter(Boolean)) leaks.push(`link on ${s.bridge}: ${line.split(':')[1]?.trim() ?? line}`);
  // Chains are named after the bridge (HANGAR-IN/FWD/TEN-<bridge>, per-user HGU-<bridge>-<hash>).
  for (const bin of ['iptables', 'ip6tables']) {
    const rules = await exec(bin, ['-w', '5', '-S'], { allowFailure: true });
    for (const line of rules.stdout.split('\n')) if (line.startsWith('-N ') && line.includes(s.bridge)) leaks.push(`${bin} chain ${line.slice(3)}`);
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(s.home) && Number(pid) !== process.pid && !cmd.includes('--test')) leaks.push(`process ${pid}: ${cmd.slice(0, 120)}`);
    } catch {
      // exited while we looked
    }
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line.includes(s.home)) leaks.push(`mount ${line.split(' ')[4] ?? line}`);
  }
  // Image mounts (ROMs) sit on autoclear loop devices: one left means a mount is still held somewhere.
  const loops = await exec('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], { allowFailure: true });
  if (loops.code === 0 && loops.stdout.trim() !== '') {
    const list = (JSON.parse(loops.stdout) as { loopdevices?: Array<{ name: string; 'back-file': string | null }> }).loopdevices ?? [];
    for (const l of list) if ((l['back-file'] ?? '').startsWith(`${s.home}/`)) leaks.push(`loop device ${l.name}: ${l['back-file'] ?? ''}`);
  }
  for (const ctrl of CGROUP_CONTROLLERS) {
    const dir = `/sys/fs/cgroup/${ctrl}${s.cgroupParent}`;
    if (!existsSync(dir)) continue;
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      if (d.isDirectory()) leaks.push(`cgroup ${ctrl}${s.cgroupParent}/${d.name}`);
    }
  }
  return leaks;
}

/** runc leaves the (empty) parent cgroups it created; a test-only parent goes once its node is gone. */
export function removeCgroupParent(parent: string): void {
  for (const ctrl of CGROUP_CONTROLLERS) {
    try {
      rmdirSync(`/sys/fs/cgroup/${ctrl}${parent}`);
    } catch {
      // absent, or not empty (then findLeaks already reported its children)
    }
  }
}
