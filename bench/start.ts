/**
 * Benchmark 1 — start latency, API vs raw runc, interleaved in one run.
 *
 *  api        POST /v1/instances {image:'hello:latest', autostart:true, timeout_s:10}
 *             → response (state running) → first HTTP byte from the instance
 *  raw        spawn `runc run -d` (minimal spec) → runc exit → first HTTP byte  [the baseline]
 *  spec       the same with hangar's OCI spec (seccomp, limits, caps, masks), app as pid 1
 *  full       the same with the exact config the driver writes (init as pid 1, file binds)
 *  driver     the node's RuncDriver.start() with that spec, outside the node (shim + runc + init)
 *  api-defer  (diagnostic) api, but the prewarm pool's background refill is held
 *             back until the first byte arrived (patches a private method of the
 *             in-process network driver; skipped if it is not there)
 *
 * Each iteration runs every series once, in a rotating order; before each run
 * the node's prewarm pool is full again (steady state) and after it everything
 * is removed (untimed). The first byte is polled only once the start call
 * returned (the POST response carries the IP; runc -d returns when the
 * container runs), the same for every series.
 */
import { checkAbort, firstByte, now, sleep, startBenchNode, wrapAsync, type BenchNode } from './harness.js';
import { RawRunc, type RawVariant } from './rawrunc.js';
import { ms, ratio, summarize, table, type Summary } from './stats.js';

export interface StartOptions {
  runs: number;
  warmup: number;
  prewarm: number;
  log: (line: string) => void;
}

export interface StartResult {
  runs: number;
  prewarm: number;
  apiCreate: Summary;
  apiFirstByte: Summary;
  apiDelete: Summary;
  rawRun: Summary;
  rawFirstByte: Summary;
  specRun: Summary;
  specFirstByte: Summary;
  fullRun: Summary;
  fullFirstByte: Summary;
  driverRun: Summary;
  driverFirstByte: Summary;
  /** undefined when the diagnostic could not run. */
  deferCreate: Summary | undefined;
  deferFirstByte: Summary | undefined;
  /** Where API create → running goes (measured in the node, ms). */
  parts: Record<string, Summary>;
  /** From the instance records. */
  bootTimeMs: Summary;
  netTimeMs: Summary;
  /** Runs that started with the pool not yet full again (after the wait timed out). */
  poolMisses: number;
  failures: string[];
  ratioFirstByte: number;
  ratioFirstByteP95: number;
}

interface ApiSample {
  createMs: number;
  firstByteMs: number;
  deleteMs: number;
  parts: Record<string, number>;
  bootMs?: number;
  netMs?: number;
}

type Refillable = { refill?: () => Promise<void> };

/** Whether the network driver has the (private) refill method the api-defer diagnostic holds back. */
function canDefer(bn: BenchNode): boolean {
  return typeof (bn.node.network as unknown as Refillable).refill === 'function';
}

async function apiRun(bn: BenchNode, bucket: { cur: Record<string, number> | undefined }, deferRefill: boolean): Promise<ApiSample> {
  const net = bn.node.network as unknown as Refillable;
  if (deferRefill) net.refill = () => Promise.resolve();
  const parts: Record<string, number> = {};
  let uuid: string | undefined;
  const sample: ApiSample = { createMs: NaN, firstByteMs: NaN, deleteMs: NaN, parts };
  try {
    try {
      bucket.cur = parts;
      const t0 = now();
      let r;
      try {
        r = await bn.create({ timeout_s: 10 }, 30_000);
      } finally {
        bucket.cur = undefined;
      }
      const t1 = now();
      const inst = r.items[0];
      if (typeof inst?.['uuid'] === 'string') uuid = inst['uuid'];
      if (r.status !== 200 || inst?.['state'] !== 'running' || typeof inst['private_ip'] !== 'string') {
        throw new Error(`create did not answer running: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
      }
      const t2 = await firstByte(inst['private_ip']);
      if (t2 === undefined) throw new Error(`instance ${String(uuid)} never answered HTTP on ${inst['private_ip']}:8080`);
      sample.createMs = t1 - t0;
      sample.firstByteMs = t2 - t0;
      if (typeof r.json.op_time_us === 'number') parts['server op_time'] = r.json.op_time_us / 1000;
    } finally {
      if (deferRefill) {
        delete net.refill; // back to the prototype's
        void bn.node.network.prewarm(bn.config.network.prewarm).catch(() => undefined);
      }
    }
    // net_time_us is filled in by a background poll; give it a moment (untimed).
    let rec: Record<string, unknown> | undefined;
    for (let i = 0; i < 40; i++) {
      rec = (await bn.api('GET', `/v1/instances/${String(uuid)}`)).items[0];
      if (rec?.['net_time_us'] !== undefined) break;
      await sleep(25);
    }
    if (typeof rec?.['boot_time_us'] === 'number') sample.bootMs = rec['boot_time_us'] / 1000;
    if (typeof rec?.['net_time_us'] === 'number') sample.netMs = rec['net_time_us'] / 1000;
    return sample;
  } finally {
    if (uuid !== undefined) {
      const d = await bn.api('DELETE', `/v1/instances/${uuid}`, undefined, 60_000);
      if (d.status !== 200 || d.items[0]?.['status'] !== 'success') throw new Error(`delete of ${uuid} failed: ${JSON.stringify(d.json).slice(0, 300)}`);
      sample.deleteMs = d.ms;
    }
  }
}

type RawSeries = 'raw' | 'spec' | 'full' | 'driver';
type Series = 'api' | 'api-defer' | RawSeries;
const RAW: Record<RawSeries, RawVariant> = { raw: 'minimal', spec: 'hangar-spec', full: 'hangar-full', driver: 'driver' };

export async function benchStart(o: StartOptions): Promise<StartResult> {
  const log = o.log;
  const bn = await startBenchNode({ prewarm: o.prewarm });
  const series: Series[] = ['api', 'raw', 'spec', 'full', 'driver', ...(canDefer(bn) ? (['api-defer'] as const) : [])];
  log(`start latency: ${o.runs} runs (+${o.warmup} warm-up) of each of ${series.join(' / ')}, interleaved; network prewarm ${o.prewarm}`);
  let raw: RawRunc | undefined;
  const restore: Array<() => void> = [];
  const failures: string[] = [];
  const api: ApiSample[] = [];
  const defer: ApiSample[] = [];
  const rawS: Record<RawSeries, Array<{ runMs: number; firstByteMs: number }>> = { raw: [], spec: [], full: [], driver: [] };
  let poolMisses = 0;
  try {
    const image = await bn.node.images.resolve('hello:latest');
    raw = await RawRunc.create(image);
    // Where the API's time goes: time the node's own calls (same process) during each create.
    const bucket: { cur: Record<string, number> | undefined } = { cur: undefined };
    const into = (name: string) => (t: number): void => {
      if (bucket.cur) bucket.cur[name] = (bucket.cur[name] ?? 0) + t;
    };
    // The puller is what create and start call (it hands the local store what it found, so the store's own resolve is not on the path).
    restore.push(wrapAsync(bn.node.puller, 'resolve', into('images.resolve (×2)')));
    restore.push(wrapAsync(bn.node.network, 'attach', into('network.attach (from the pool)')));
    restore.push(wrapAsync(bn.node.runtime, 'start', into('runtime.start (shim + runc + init)')));

    const total = o.warmup + o.runs;
    for (let i = 0; i < total; i++) {
      checkAbort();
      const measured = i >= o.warmup;
      for (let j = 0; j < series.length; j++) {
        const which = series[(i + j) % series.length]!;
        if (!(await bn.waitPool(15_000))) poolMisses++;
        await sleep(20);
        try {
          if (which === 'api' || which === 'api-defer') {
            const s = await apiRun(bn, bucket, which === 'api-defer');
            if (measured) (which === 'api' ? api : defer).push(s);
          } else {
            const s = await raw.run(RAW[which]);
            if (measured) rawS[which].push(s);
          }
        } catch (e) {
          failures.push(`${which} run ${i}: ${(e as Error).message}`);
          log(`  ! ${which} run ${i} failed: ${(e as Error).message}`);
          if (failures.length > 10) throw new Error('too many failures, giving up');
        }
      }
      if (measured && (i - o.warmup + 1) % 10 === 0) log(`  … ${i - o.warmup + 1}/${o.runs}`);
    }
  } finally {
    for (const r of restore.reverse()) r();
    const left = raw ? await raw.close() : [];
    await bn.close();
    if (left.length > 0) throw new Error(`raw runc baseline leaked:\n  ${left.join('\n  ')}`);
  }

  const parts: Record<string, Summary> = {};
  const names = [...new Set(api.flatMap((s) => Object.keys(s.parts)))];
  for (const p of names) parts[p] = summarize(api.map((s) => s.parts[p] ?? 0));
  const inner = names.filter((n) => n !== 'server op_time');
  parts['rest: HTTP, JSON, validation, SQLite, locks'] = summarize(api.map((s) => s.createMs - inner.reduce((a, n) => a + (s.parts[n] ?? 0), 0)));
  const apiFirstByte = summarize(api.map((s) => s.firstByteMs));
  const rawFirstByte = summarize(rawS.raw.map((s) => s.firstByteMs));
  return {
    runs: o.runs,
    prewarm: o.prewarm,
    apiCreate: summarize(api.map((s) => s.createMs)),
    apiFirstByte,
    apiDelete: summarize(api.map((s) => s.deleteMs)),
    rawRun: summarize(rawS.raw.map((s) => s.runMs)),
    rawFirstByte,
    specRun: summarize(rawS.spec.map((s) => s.runMs)),
    specFirstByte: summarize(rawS.spec.map((s) => s.firstByteMs)),
    fullRun: summarize(rawS.full.map((s) => s.runMs)),
    fullFirstByte: summarize(rawS.full.map((s) => s.firstByteMs)),
    driverRun: summarize(rawS.driver.map((s) => s.runMs)),
    driverFirstByte: summarize(rawS.driver.map((s) => s.firstByteMs)),
    deferCreate: series.includes('api-defer') ? summarize(defer.map((s) => s.createMs)) : undefined,
    deferFirstByte: series.includes('api-defer') ? summarize(defer.map((s) => s.firstByteMs)) : undefined,
    parts,
    bootTimeMs: summarize(api.flatMap((s) => (s.bootMs === undefined ? [] : [s.bootMs]))),
    netTimeMs: summarize(api.flatMap((s) => (s.netMs === undefined ? [] : [s.netMs]))),
    poolMisses,
    failures,
    ratioFirstByte: apiFirstByte.p50 / rawFirstByte.p50,
    ratioFirstByteP95: apiFirstByte.p95 / rawFirstByte.p95,
  };
}

export function formatStart(r: StartResult): string {
  const row = (name: string, s: Summary | undefined, vsRaw = true): string[] =>
    s === undefined
      ? [name, '0', '—', '—', '—', '—', '', '']
      : [name, String(s.n), ms(s.p50), ms(s.p95), ms(s.min), ms(s.max), vsRaw ? ratio(s.p50, r.rawFirstByte.p50) : '', vsRaw ? ratio(s.p95, r.rawFirstByte.p95) : ''];
  const main = table(['series (ms)', 'n', 'p50', 'p95', 'min', 'max', 'p50 vs raw', 'p95 vs raw'], [
    row('API create → running (HTTP response)', r.apiCreate),
    row('API create → first HTTP byte', r.apiFirstByte),
    row('raw runc → first HTTP byte  [baseline]', r.rawFirstByte),
    row('  of which runc run -d until it exits', r.rawRun, false),
    row('runc + hangar spec (app pid 1) → first byte', r.specFirstByte),
    row('runc + full hangar config (init, binds) → first byte', r.fullFirstByte),
    row('  of which runc run -d until it exits', r.fullRun, false),
    row('RuncDriver.start outside the node → first byte', r.driverFirstByte),
    row('  of which driver.start()', r.driverRun, false),
    row('API, pool refill held back (diagnostic) → running', r.deferCreate),
    row('API, pool refill held back (diagnostic) → first byte', r.deferFirstByte),
    row('API delete (untimed, after each run)', r.apiDelete, false),
  ]);
  const parts = table(
    ['API create → running, where the time goes (ms)', 'p50', 'p95'],
    [
      ...Object.entries(r.parts).map(([k, s]) => [k, ms(s.p50), ms(s.p95)]),
      ['boot_time_us (instance record: attach + runtime.start)', ms(r.bootTimeMs.p50), ms(r.bootTimeMs.p95)],
      ['net_time_us (instance record: until the app listens, polled)', ms(r.netTimeMs.p50), ms(r.netTimeMs.p95)],
    ],
  );
  const verdict = `API first byte / raw runc first byte: p50 ${r.ratioFirstByte.toFixed(2)}×, p95 ${r.ratioFirstByteP95.toFixed(2)}× (goal ≤ 1.3×)`;
  const notes = [`pool not refilled in time before ${r.poolMisses} run(s); failures: ${r.failures.length}`, ...r.failures.map((f) => `  ${f}`)];
  return [main, '', parts, '', verdict, ...notes].join('\n');
}
