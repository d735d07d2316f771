/**
 * Benchmark 3 — memory per idle instance. The node runs in this process; after a
 * warm-up and a forced GC its heapUsed/RSS are the baseline; then N (default
 * 200) hello instances are created in batches of B concurrent POSTs, left idle,
 * GC is forced again and the growth is divided by N. Also the host cost of one
 * sandbox: the shim outside (RSS/PSS), the processes inside (PSS), the sandbox
 * cgroup's memory, and the drop of the host's MemAvailable (includes kernel
 * objects: netns, veth, cgroups; noisy if other work runs on the machine).
 * Finally one bulk DELETE of all of them (timed) and the heap once more.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { checkAbort, meminfo, now, procMemory, sleep, startBenchNode } from './harness.js';
import { bytes, ms, summarize, table, type Summary } from './stats.js';

export interface MemoryOptions {
  count: number;
  batch: number;
  prewarm: number;
  idleMs: number;
  log: (line: string) => void;
}

interface Snapshot {
  heapUsed: number;
  rss: number;
  external: number;
  memAvailable: number;
  slab: number;
}

export interface MemoryResult {
  count: number;
  created: number;
  failures: string[];
  createWallMs: number;
  batchMs: Summary;
  before: Snapshot;
  after: Snapshot;
  afterDelete: Snapshot;
  heapPerInstance: number;
  /** (heap with N − heap after deleting them) / N: what goes away with them. */
  heapReleasedPerInstance: number;
  rssPerInstance: number;
  hostPerInstance: number;
  slabPerInstance: number;
  shimRss: Summary;
  shimPss: Summary;
  insidePss: Summary;
  cgroupRss: Summary;
  cgroupUsage: Summary;
  cgroupKmem: Summary;
  insideProcs: Summary;
  deleteMs: number;
  deleteFailures: number;
  leftAfterDelete: number;
}

/** global.gc when run with --expose-gc, else switched on at run time. */
function getGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/**
 * Forces GC once a second until the heap size and RSS stop moving (V8's memory
 * reducer shrinks the heap only after some seconds idle), at least 7 s, at most 20 s.
 */
async function settle(gc: () => void): Promise<Snapshot> {
  const t0 = now();
  let last = '';
  let stable = 0;
  for (;;) {
    gc();
    await sleep(1000);
    const m = process.memoryUsage();
    const key = `${m.heapTotal}/${Math.round(m.rss / (256 * 1024))}`;
    stable = key === last ? stable + 1 : 0;
    last = key;
    if ((stable >= 3 && now() - t0 > 7000) || now() - t0 > 20_000) break;
  }
  gc();
  const m = process.memoryUsage();
  const info = meminfo();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, memAvailable: info['MemAvailable'] ?? NaN, slab: info['Slab'] ?? NaN };
}

/** Bytes charged to the sandbox's memory cgroup: all (user + kernel) and kernel only (v1), or memory.current (v2). */
function cgroupCharge(parent: string, uuid: string): { usage: number; kmem: number } | undefined {
  const num = (f: string): number | undefined => {
    try {
      const n = Number(readFileSync(f, 'utf8').trim());
      return Number.isFinite(n) ? n : undefined;
    } catch {
      return undefined;
    }
  };
  const v1 = `/sys/fs/cgroup/memory${parent}/${uuid}`;
  const usage = num(`${v1}/memory.usage_in_bytes`);
  if (usage !== undefined) return { usage, kmem: num(`${v1}/memory.kmem.usage_in_bytes`) ?? NaN };
  const v2 = num(`/sys/fs/cgroup${parent}/${uuid}/memory.current`);
  return v2 === undefined ? undefined : { usage: v2, kmem: NaN };
}

function cgroupProcs(parent: string, uuid: string): number[] {
  for (const f of [`/sys/fs/cgroup/memory${parent}/${uuid}/cgroup.procs`, `/sys/fs/cgroup${parent}/${uuid}/cgroup.procs`]) {
    try {
      return readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      // next
    }
  }
  return [];
}

export async function benchMemory(o: MemoryOptions): Promise<MemoryResult> {
  o.log(`memory: ${o.count} idle hello instances created ${o.batch} at a time; network prewarm ${o.prewarm}`);
  const gc = getGc();
  const bn = await startBenchNode({ prewarm: o.prewarm, subnetLen: 22 });
  try {
    // Warm-up: exercise create/list/delete once so code, caches and pools exist before the baseline.
    const warm = await Promise.all(Array.from({ length: Math.min(o.batch, 5) }, () => bn.create({ timeout_s: 30 }, 120_000)));
    await bn.api('GET', '/v1/instances', undefined, 30_000);
    await bn.api('DELETE', '/v1/instances', warm.flatMap((r) => r.items.map((i) => ({ uuid: i['uuid'] }))), 120_000);
    await bn.waitPool(30_000);
    await sleep(500);
    const before = await settle(gc);

    const uuids: string[] = [];
    const failures: string[] = [];
    const batchTimes: number[] = [];
    const t0 = now();
    for (let done = 0; done < o.count; done += o.batch) {
      checkAbort();
      const n = Math.min(o.batch, o.count - done);
      const tb = now();
      const rs = await Promise.all(
        Array.from({ length: n }, () =>
          bn.create({ timeout_s: 30 }, 120_000).catch((e: unknown) => ({ status: 0, json: { message: String(e) }, items: [] as Array<Record<string, unknown>>, ms: 0 })),
        ),
      );
      batchTimes.push(now() - tb);
      for (const r of rs) {
        const it = r.items[0];
        if (r.status === 200 && it?.['state'] === 'running' && typeof it['uuid'] === 'string') uuids.push(it['uuid']);
        else failures.push(`HTTP ${r.status}: ${JSON.stringify(r.json).slice(0, 200)}`);
      }
      if ((done / o.batch) % 5 === 4) o.log(`  … ${uuids.length}/${o.count} running`);
    }
    const createWallMs = now() - t0;
    o.log(`  ${uuids.length} running after ${ms(createWallMs)} ms (${failures.length} failed); idling ${o.idleMs} ms`);
    await sleep(o.idleMs);
    const after = await settle(gc);

    // Host cost of one sandbox.
    const shimRss: number[] = [];
    const shimPss: number[] = [];
    const insidePss: number[] = [];
    const insideProcs: number[] = [];
    const cgroupRss: number[] = [];
    const cgroupUsage: number[] = [];
    const cgroupKmem: number[] = [];
    for (const u of uuids) {
      const ch = cgroupCharge(bn.config.cgroupParent, u);
      if (ch) {
        cgroupUsage.push(ch.usage);
        if (Number.isFinite(ch.kmem)) cgroupKmem.push(ch.kmem);
      }
      const dir = bn.node.runtime.sandboxDir(u);
      const shimPid = Number(readFileSync(join(dir, 'shim.pid'), 'utf8').trim());
      const sm = procMemory(shimPid);
      if (sm) {
        shimRss.push(sm.rss);
        shimPss.push(sm.pss);
      }
      const procs = cgroupProcs(bn.config.cgroupParent, u);
      insideProcs.push(procs.length);
      insidePss.push(procs.reduce((a, p) => a + (procMemory(p)?.pss ?? 0), 0));
      const st = await bn.node.runtime.stats(u).catch(() => undefined);
      if (st) cgroupRss.push(st.rssBytes);
    }

    const all = await bn.api('GET', '/v1/instances?details=false', undefined, 30_000);
    const d = await bn.api('DELETE', '/v1/instances', all.items.map((i) => ({ uuid: i['uuid'] })), 600_000);
    const deleteFailures = d.items.filter((e) => e['status'] !== 'success').length;
    const left = (await bn.api('GET', '/v1/instances?details=false', undefined, 30_000)).items.length;
    o.log(`  bulk DELETE of ${all.items.length} in ${ms(d.ms)} ms (${deleteFailures} failed, ${left} left)`);
    await bn.waitPool(30_000);
    await sleep(500);
    const afterDelete = await settle(gc);

    const k = Math.max(1, uuids.length);
    return {
      count: o.count,
      created: uuids.length,
      failures,
      createWallMs,
      batchMs: summarize(batchTimes),
      before,
      after,
      afterDelete,
      heapPerInstance: (after.heapUsed - before.heapUsed) / k,
      heapReleasedPerInstance: (after.heapUsed - afterDelete.heapUsed) / k,
      rssPerInstance: (after.rss - before.rss) / k,
      hostPerInstance: (before.memAvailable - after.memAvailable) / k,
      slabPerInstance: (after.slab - before.slab) / k,
      shimRss: summarize(shimRss),
      shimPss: summarize(shimPss),
      insidePss: summarize(insidePss),
      cgroupRss: summarize(cgroupRss),
      cgroupUsage: summarize(cgroupUsage),
      cgroupKmem: summarize(cgroupKmem),
      insideProcs: summarize(insideProcs),
      deleteMs: d.ms,
      deleteFailures,
      leftAfterDelete: left,
    };
  } finally {
    await bn.close();
  }
}

export function formatMemory(r: MemoryResult): string {
  const snap = table(
    ['node process', 'baseline (0 instances)', `${r.created} idle instances`, 'per instance', 'after deleting all'],
    [
      ['heapUsed', bytes(r.before.heapUsed), bytes(r.after.heapUsed), bytes(r.heapPerInstance), bytes(r.afterDelete.heapUsed)],
      ['RSS (malloc arenas are not returned: rough)', bytes(r.before.rss), bytes(r.after.rss), bytes(r.rssPerInstance), bytes(r.afterDelete.rss)],
      ['external', bytes(r.before.external), bytes(r.after.external), bytes((r.after.external - r.before.external) / Math.max(1, r.created)), bytes(r.afterDelete.external)],
      ['host MemAvailable (host-wide: needs an idle machine)', bytes(r.before.memAvailable), bytes(r.after.memAvailable), bytes(r.hostPerInstance), bytes(r.afterDelete.memAvailable)],
      ['host Slab (host-wide: netns, veth, cgroups, …)', bytes(r.before.slab), bytes(r.after.slab), bytes(r.slabPerInstance), bytes(r.afterDelete.slab)],
    ],
  );
  const host = table(
    ['per sandbox (host side)', 'p50', 'p95'],
    [
      ['hangar-shim RSS', bytes(r.shimRss.p50), bytes(r.shimRss.p95)],
      ['hangar-shim PSS', bytes(r.shimPss.p50), bytes(r.shimPss.p95)],
      ['processes in the sandbox (count)', String(r.insideProcs.p50), String(r.insideProcs.p95)],
      ['their PSS (init + hello)', bytes(r.insidePss.p50), bytes(r.insidePss.p95)],
      ['sandbox cgroup rss (memory.stat)', bytes(r.cgroupRss.p50), bytes(r.cgroupRss.p95)],
      ['sandbox cgroup charge, all (usage_in_bytes)', bytes(r.cgroupUsage.p50), bytes(r.cgroupUsage.p95)],
      ['  of which kernel (kmem.usage_in_bytes)', bytes(r.cgroupKmem.p50), bytes(r.cgroupKmem.p95)],
    ],
  );
  return [
    snap,
    '',
    `node heap per idle instance: ${bytes(r.heapPerInstance)} (growth over the 0-instance baseline / ${r.created}; goal < 1 MiB); ` +
      `freed again by deleting them: ${bytes(r.heapReleasedPerInstance)} per instance`,
    `created ${r.created}/${r.count} in ${ms(r.createWallMs)} ms (batches: p50 ${ms(r.batchMs.p50)} ms, p95 ${ms(r.batchMs.p95)} ms); failures: ${r.failures.length}`,
    ...r.failures.slice(0, 10).map((f) => `  ${f}`),
    '',
    host,
    '',
    `bulk DELETE of ${r.created}: ${ms(r.deleteMs)} ms, ${r.deleteFailures} failed, ${r.leftAfterDelete} left`,
  ].join('\n');
}
