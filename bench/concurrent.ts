/**
 * Benchmark 2 — N (default 50) simultaneous POST /v1/instances (autostart,
 * timeout_s 30) against one node: total wall time, per-request latency and
 * failures; every instance reported running must then answer HTTP; then one
 * bulk DELETE of all of them, timed. Repeated for a few rounds on the same node
 * (the pool refilled in between) because one burst is one sample of wall time.
 *
 * Baseline in the same run: sequential creates on the same node just before
 * (pool refilled between them), so the ratio shows what a burst does to one
 * request. The node's attach/start calls are timed per instance to show where
 * a burst queues.
 */
import { checkAbort, firstByte, now, sleep, startBenchNode, wrapAsync, type BenchNode } from './harness.js';
import { ms, ratio, summarize, table, type Summary } from './stats.js';

export interface ConcurrentOptions {
  n: number;
  rounds: number;
  /** Sequential creates measured first as the baseline. */
  sequential: number;
  prewarm: number;
  log: (line: string) => void;
}

export interface RoundResult {
  wallMs: number;
  failures: string[];
  notServing: string[];
  deleteMs: number;
  deleteFailures: string[];
  leftAfterDelete: number;
}

export interface ConcurrentResult {
  n: number;
  prewarm: number;
  rounds: RoundResult[];
  wallMs: Summary;
  deleteMs: Summary;
  perRequest: Summary;
  bootTimeMs: Summary;
  attachMs: Summary;
  startMs: Summary;
  sequential: Summary;
  seqAttachMs: Summary;
  seqStartMs: Summary;
  failures: number;
  notServing: number;
  deleteFailures: number;
}

async function sequentialRuns(bn: BenchNode, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    checkAbort();
    await bn.waitPool(15_000);
    await sleep(20);
    const r = await bn.create({ timeout_s: 30 }, 60_000);
    const it = r.items[0];
    if (r.status === 200 && it?.['state'] === 'running') out.push(r.ms);
    if (typeof it?.['uuid'] === 'string') await bn.api('DELETE', `/v1/instances/${it['uuid']}`, undefined, 60_000);
  }
  return out;
}

async function burst(bn: BenchNode, n: number): Promise<{ round: RoundResult; ok: Array<{ ms: number; bootMs: number | undefined; uuid: string }> }> {
  const t0 = now();
  const results = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const t = now();
      try {
        const r = await bn.create({ timeout_s: 30 }, 120_000);
        const it = r.items[0];
        const ok = r.status === 200 && it?.['state'] === 'running' && typeof it['private_ip'] === 'string';
        return {
          i,
          ms: now() - t,
          ok,
          err: ok ? undefined : `HTTP ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`,
          ip: it?.['private_ip'] as string | undefined,
          uuid: it?.['uuid'] as string | undefined,
          bootMs: typeof it?.['boot_time_us'] === 'number' ? it['boot_time_us'] / 1000 : undefined,
        };
      } catch (e) {
        return { i, ms: now() - t, ok: false, err: (e as Error).message, ip: undefined, uuid: undefined, bootMs: undefined };
      }
    }),
  );
  const wallMs = now() - t0;
  const failures = results.filter((r) => !r.ok).map((r) => `request ${r.i}: ${r.err ?? '?'}`);

  // Every instance reported running must answer HTTP.
  const notServing: string[] = [];
  await Promise.all(
    results
      .filter((r) => r.ok && r.ip)
      .map(async (r) => {
        if ((await firstByte(r.ip!, 8080, 10_000)) === undefined) notServing.push(`${r.uuid} (${r.ip})`);
      }),
  );

  // One bulk DELETE of everything on the node.
  const all = await bn.api('GET', '/v1/instances?details=false', undefined, 30_000);
  for (const it of all.items) if (typeof it['uuid'] === 'string') bn.created.add(it['uuid']);
  const d = await bn.api('DELETE', '/v1/instances', all.items.map((i) => ({ uuid: i['uuid'] })), 300_000);
  const deleteFailures = d.items.filter((e) => e['status'] !== 'success').map((e) => `${String(e['uuid'])}: ${String(e['message'])}`);
  const left = (await bn.api('GET', '/v1/instances?details=false', undefined, 30_000)).items.length;
  return {
    round: { wallMs, failures, notServing, deleteMs: d.ms, deleteFailures, leftAfterDelete: left },
    ok: results.filter((r) => r.ok).map((r) => ({ ms: r.ms, bootMs: r.bootMs, uuid: r.uuid! })),
  };
}

export async function benchConcurrent(o: ConcurrentOptions): Promise<ConcurrentResult> {
  o.log(`concurrent creates: ${o.sequential} sequential (baseline), then ${o.rounds} rounds of ${o.n} simultaneous POSTs + one bulk DELETE; network prewarm ${o.prewarm}`);
  const bn = await startBenchNode({ prewarm: o.prewarm });
  const attach = new Map<string, number>();
  const start = new Map<string, number>();
  const undo = [
    wrapAsync(bn.node.network, 'attach', (t, a) => void attach.set(String(a[0]), t)),
    wrapAsync(bn.node.runtime, 'start', (t, a) => void start.set(String((a[0] as { id?: unknown } | undefined)?.id), t)),
  ];
  try {
    await sequentialRuns(bn, 2); // warm-up (JIT, first-use paths)
    attach.clear();
    start.clear();
    const sequential = await sequentialRuns(bn, o.sequential);
    const seqAttach = [...attach.values()];
    const seqStart = [...start.values()];
    attach.clear();
    start.clear();

    const rounds: RoundResult[] = [];
    const ok: Array<{ ms: number; bootMs: number | undefined; uuid: string }> = [];
    for (let k = 0; k < o.rounds; k++) {
      checkAbort();
      await bn.waitPool(30_000);
      await sleep(500);
      const r = await burst(bn, o.n);
      rounds.push(r.round);
      ok.push(...r.ok);
      o.log(
        `  round ${k + 1}: ${o.n} creates in ${ms(r.round.wallMs)} ms, ${r.round.failures.length} failed, ${r.round.notServing.length} not serving; ` +
          `bulk DELETE ${ms(r.round.deleteMs)} ms, ${r.round.deleteFailures.length} failed, ${r.round.leftAfterDelete} left`,
      );
    }
    const okIds = new Set(ok.map((r) => r.uuid));
    return {
      n: o.n,
      prewarm: o.prewarm,
      rounds,
      wallMs: summarize(rounds.map((r) => r.wallMs)),
      deleteMs: summarize(rounds.map((r) => r.deleteMs)),
      perRequest: summarize(ok.map((r) => r.ms)),
      bootTimeMs: summarize(ok.flatMap((r) => (r.bootMs === undefined ? [] : [r.bootMs]))),
      attachMs: summarize([...attach].filter(([id]) => okIds.has(id)).map(([, t]) => t)),
      startMs: summarize([...start].filter(([id]) => okIds.has(id)).map(([, t]) => t)),
      sequential: summarize(sequential),
      seqAttachMs: summarize(seqAttach),
      seqStartMs: summarize(seqStart),
      failures: rounds.reduce((a, r) => a + r.failures.length, 0),
      notServing: rounds.reduce((a, r) => a + r.notServing.length, 0),
      deleteFailures: rounds.reduce((a, r) => a + r.deleteFailures.length + r.leftAfterDelete, 0),
    };
  } finally {
    for (const u of undo.reverse()) u();
    await bn.close();
  }
}

export function formatConcurrent(r: ConcurrentResult): string {
  const row = (name: string, s: Summary, base?: Summary): string[] => [name, String(s.n), ms(s.p50), ms(s.p95), ms(s.min), ms(s.max), base ? ratio(s.p50, base.p50) : ''];
  const t = table(['series (ms)', 'n', 'p50', 'p95', 'min', 'max', 'p50 vs seq'], [
    row('sequential create → running  [baseline]', r.sequential, r.sequential),
    row('  of which network.attach', r.seqAttachMs),
    row('  of which runtime.start', r.seqStartMs),
    row(`${r.n} concurrent: per request → running`, r.perRequest, r.sequential),
    row('  of which network.attach', r.attachMs, r.seqAttachMs),
    row('  of which runtime.start', r.startMs, r.seqStartMs),
    row(`  boot_time_us (instance record)`, r.bootTimeMs),
    row(`wall time of a burst of ${r.n}`, r.wallMs),
    row(`bulk DELETE of ${r.n}`, r.deleteMs),
  ]);
  const lines = [
    t,
    '',
    `throughput: ${((r.n / r.wallMs.p50) * 1000).toFixed(1)} instances/s (p50 wall); ${r.n} × sequential p50 would be ${ms(r.n * r.sequential.p50)} ms`,
    `failures: ${r.failures} create, ${r.notServing} running but not answering HTTP, ${r.deleteFailures} delete — over ${r.rounds.length} rounds (goal 0)`,
  ];
  for (const [k, round] of r.rounds.entries()) {
    for (const f of [...round.failures, ...round.notServing.map((x) => `not serving: ${x}`), ...round.deleteFailures].slice(0, 10)) lines.push(`  round ${k + 1}: ${f}`);
  }
  return lines.join('\n');
}
