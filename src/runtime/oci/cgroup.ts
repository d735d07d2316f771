/**
 * Reads a sandbox's cgroup (memory, cpu, OOM kills, freezer) straight from
 * cgroupfs, and removes its directories if runc left any. Works on cgroup v1
 * (also hybrid hosts) and on a pure cgroup v2 host.
 */
import { readFileSync } from 'node:fs';
import { readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface CgroupUsage {
  rssBytes: number;
  cpuTimeMs: number;
}

interface Layout {
  /** true when the memory controller lives in a cgroup v2 hierarchy. */
  v2: boolean;
  /** v1 controller → mount point (also used for v2: every controller → the unified mount). */
  controllers: Map<string, string>;
  /** Every cgroup/cgroup2 mount point; runc may create the sandbox's directory in each. */
  hierarchies: string[];
}

function parseMounts(text: string): Layout {
  const controllers = new Map<string, string>();
  const hierarchies: string[] = [];
  let unified: string | undefined;
  for (const line of text.split('\n')) {
    const [, mountPoint, type, options] = line.split(' ');
    if (!mountPoint || !options) continue;
    const dir = mountPoint.replace(/\\040/g, ' ');
    if (type === 'cgroup') {
      hierarchies.push(dir);
      for (const opt of options.split(',')) {
        if (!controllers.has(opt)) controllers.set(opt, dir);
      }
    } else if (type === 'cgroup2') {
      hierarchies.push(dir);
      unified = dir;
    }
  }
  if (!controllers.has('memory') && unified !== undefined) {
    const u = unified;
    return { v2: true, controllers: new Map(['memory', 'cpu', 'freezer', 'pids'].map((c) => [c, u])), hierarchies };
  }
  return { v2: false, controllers, hierarchies };
}

const num = (s: string | undefined): number => {
  const n = Number(s);
  return Number.isFinite(n) ? n : 0;
};

/** Value of `key N` lines (memory.stat, memory.events, memory.oom_control, cpu.stat). */
export function keyed(text: string, key: string): number | undefined {
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0 && line.slice(0, sp) === key) return num(line.slice(sp + 1).trim());
  }
  return undefined;
}

export class Cgroups {
  private readonly layout: Layout;

  constructor(mountsText: string = readFileSync('/proc/self/mounts', 'utf8')) {
    this.layout = parseMounts(mountsText);
  }

  get v2(): boolean {
    return this.layout.v2;
  }

  private dir(controller: string, cgroupPath: string): string | undefined {
    const mount = this.layout.controllers.get(controller);
    return mount === undefined ? undefined : join(mount, cgroupPath);
  }

  /** The file whose `oom_kill N` line counts OOM kills in the cgroup ('-' if there is no memory controller). */
  oomFile(cgroupPath: string): string {
    const d = this.dir('memory', cgroupPath);
    if (d === undefined) return '-';
    return join(d, this.layout.v2 ? 'memory.events' : 'memory.oom_control');
  }

  /** Whether the cgroup exists (in the memory hierarchy). */
  async exists(cgroupPath: string): Promise<boolean> {
    const f = this.oomFile(cgroupPath);
    if (f === '-') return false;
    return readFile(f, 'utf8').then(
      () => true,
      () => false,
    );
  }

  async oomKilled(cgroupPath: string): Promise<boolean> {
    const f = this.oomFile(cgroupPath);
    if (f === '-') return false;
    const text = await readFile(f, 'utf8').catch(() => '');
    return (keyed(text, 'oom_kill') ?? 0) > 0;
  }

  /** Memory and CPU use; throws if the cgroup does not exist. */
  async usage(cgroupPath: string): Promise<CgroupUsage> {
    const mem = this.dir('memory', cgroupPath);
    if (mem === undefined) throw new Error('no memory cgroup controller on this host');
    if (this.layout.v2) {
      const [stat, cpu] = await Promise.all([
        readFile(join(mem, 'memory.stat'), 'utf8'),
        readFile(join(mem, 'cpu.stat'), 'utf8'),
      ]);
      return { rssBytes: keyed(stat, 'anon') ?? 0, cpuTimeMs: (keyed(cpu, 'usage_usec') ?? 0) / 1000 };
    }
    const acct = this.dir('cpuacct', cgroupPath);
    const [stat, usage] = await Promise.all([
      readFile(join(mem, 'memory.stat'), 'utf8'),
      acct === undefined ? Promise.resolve('0') : readFile(join(acct, 'cpuacct.usage'), 'utf8'),
    ]);
    const rss = keyed(stat, 'total_rss') ?? keyed(stat, 'rss') ?? 0;
    return { rssBytes: rss, cpuTimeMs: num(usage.trim()) / 1e6 };
  }

  async frozen(cgroupPath: string): Promise<boolean> {
    const d = this.dir('freezer', cgroupPath);
    if (d === undefined) return false;
    if (this.layout.v2) return (await readFile(join(d, 'cgroup.freeze'), 'utf8').catch(() => '0')).trim() === '1';
    const state = (await readFile(join(d, 'freezer.state'), 'utf8').catch(() => 'THAWED')).trim();
    return state === 'FROZEN' || state === 'FREEZING';
  }

  /**
   * Removes the cgroup's directory from every hierarchy (runc delete normally
   * does; this catches what a crash left). Only the leaf: parents are shared.
   * Returns the directories that could not be removed.
   */
  async remove(cgroupPath: string, attempts = 20): Promise<string[]> {
    const left: string[] = [];
    await Promise.all(
      this.layout.hierarchies.map(async (h) => {
        const d = join(h, cgroupPath);
        for (let i = 0; ; i++) {
          try {
            await rmdir(d);
            return;
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') return;
            // EBUSY: a dying task is still charged to it; it goes away in a moment.
            if (code !== 'EBUSY' || i >= attempts) {
              left.push(d);
              return;
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }),
    );
    return left;
  }
}
