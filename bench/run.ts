/**
 * Runs the node benchmarks and prints a summary (figures go into docs/benchmarks.md).
 *
 *   node dist/bench/run.js [--runs N] [--warmup N] [--only start|concurrent|memory[,…]]
 *                          [--rounds N] [--concurrency N] [--instances N] [--prewarm N] [--json FILE]
 *
 *   --runs N         start-latency runs per series (default 30, after --warmup 3)
 *   --rounds N       bursts of --concurrency (default 50) simultaneous creates (default 3)
 *   --instances N    idle instances for the memory benchmark (default 200)
 *   --prewarm N      the node's network prewarm pool (default 4, as `make run`)
 *
 * Needs root (runc, netns, iptables) and `make images` (build/bin/hangar-shim,
 * build/images/hello.oci.tar). Only loopback and instance addresses inside
 * network namespaces this run created are contacted; everything is removed at
 * the end, also after a failure or Ctrl-C (a second Ctrl-C exits at once).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { benchConcurrent, formatConcurrent, type ConcurrentResult } from './concurrent.js';
import { ForeignCpu, hostInfo, now, requestAbort } from './harness.js';
import { benchMemory, formatMemory, type MemoryResult } from './memory.js';
import { benchStart, formatStart, type StartResult } from './start.js';
import { bytes, ms, table } from './stats.js';

type Which = 'start' | 'concurrent' | 'memory';
const ALL: Which[] = ['start', 'concurrent', 'memory'];

interface Args {
  runs: number;
  warmup: number;
  rounds: number;
  only: Which[];
  concurrency: number;
  instances: number;
  prewarm: number;
  json: string | undefined;
}

function usage(msg?: string): never {
  if (msg) process.stderr.write(`bench: ${msg}\n`);
  process.stderr.write(
    'usage: node dist/bench/run.js [--runs N] [--warmup N] [--only start|concurrent|memory[,…]] [--rounds N] [--concurrency N] [--instances N] [--prewarm N] [--json FILE]\n',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { runs: 30, warmup: 3, rounds: 3, only: ALL, concurrency: 50, instances: 200, prewarm: 4, json: undefined };
  const int = (flag: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) usage(`${flag} needs an integer ${min}..${max}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const v = (): string | undefined => argv[++i];
    if (f === '--runs') a.runs = int(f, v(), 1, 1000);
    else if (f === '--warmup') a.warmup = int(f, v(), 0, 100);
    else if (f === '--rounds') a.rounds = int(f, v(), 1, 20);
    else if (f === '--concurrency') a.concurrency = int(f, v(), 1, 200);
    else if (f === '--instances') a.instances = int(f, v(), 1, 500);
    else if (f === '--prewarm') a.prewarm = int(f, v(), 0, 64);
    else if (f === '--json') a.json = v() ?? usage('--json needs a file');
    else if (f === '--only') {
      const list = (v() ?? usage('--only needs a name')).split(',');
      for (const w of list) if (!ALL.includes(w as Which)) usage(`unknown benchmark ${w}`);
      a.only = list as Which[];
    } else if (f === '--help' || f === '-h') usage();
    else usage(`unknown option ${f}`);
  }
  return a;
}

/** The 1/5/15-minute load averages, e.g. "0.52 0.61 0.70". */
function loadavg(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: must run as root (runc, network namespaces, iptables)\n');
    return 2;
  }
  let interrupts = 0;
  let firstSignalAt = 0;
  const onSignal = (sig: string): void => {
    // A terminal's Ctrl-C reaches npm/make and this process, which may forward it again: only a
    // second signal a while after the first one means "exit now, skip the cleanup".
    if (interrupts > 0 && now() - firstSignalAt > 1000) process.exit(130);
    if (interrupts++ > 0) return;
    firstSignalAt = now();
    process.stderr.write(`\n${sig}: finishing the current step and cleaning up (again, a second later, to exit at once)\n`);
    requestAbort(sig);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const host = await hostInfo();
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`hangar node benchmarks — ${new Date().toISOString()}`);
  log(`host: ${host.nproc} CPU (${host.cpu}), ${host.memGiB} GiB, kernel ${host.kernel}, runc ${host.runc}, node ${host.node}`);
  log(`args: --runs ${args.runs} --warmup ${args.warmup} --rounds ${args.rounds} --only ${args.only.join(',')} --concurrency ${args.concurrency} --instances ${args.instances} --prewarm ${args.prewarm}`);
  log('');

  const results: {
    host: typeof host;
    args: Args;
    start?: StartResult;
    concurrent?: ConcurrentResult;
    memory?: MemoryResult;
    load: Record<string, { before: string; after: string; otherCpuSeconds: number; otherShare: number }>;
    errors: string[];
    totalMs?: number;
  } = { host, args, load: {}, errors: [] };
  const t0 = now();
  for (const which of ALL.filter((w) => args.only.includes(w))) {
    const ts = now();
    const loadBefore = loadavg();
    const foreign = new ForeignCpu();
    log(`=== ${which} === (load average before: ${loadBefore})`);
    try {
      if (which === 'start') {
        results.start = await benchStart({ runs: args.runs, warmup: args.warmup, prewarm: args.prewarm, log });
        log(formatStart(results.start));
      } else if (which === 'concurrent') {
        results.concurrent = await benchConcurrent({ n: args.concurrency, rounds: args.rounds, sequential: 10, prewarm: args.prewarm, log });
        log(formatConcurrent(results.concurrent));
      } else {
        results.memory = await benchMemory({ count: args.instances, batch: 20, prewarm: args.prewarm, idleMs: 5000, log });
        log(formatMemory(results.memory));
      }
    } catch (e) {
      const msg = `${which}: ${(e as Error).stack ?? String(e)}`;
      results.errors.push(msg);
      log(`!!! ${msg}`);
    }
    const loadAfter = loadavg();
    const other = foreign.stop();
    results.load[which] = { before: loadBefore, after: loadAfter, otherCpuSeconds: other.cpuSeconds, otherShare: other.share };
    log(
      `(${which} took ${((now() - ts) / 1000).toFixed(1)} s; load average after: ${loadAfter}; other processes used ≥ ${other.cpuSeconds.toFixed(1)} CPU-s = ` +
        `${(other.share * 100).toFixed(0)}% of the machine${other.share > 0.1 ? ' — busy with other work, figures may be disturbed: rerun' : ''})`,
    );
    log('');
    if (interrupts > 0) break;
  }
  results.totalMs = now() - t0;

  // Summary.
  const rows: string[][] = [];
  const s = results.start;
  if (s) {
    rows.push(['start: API create → running', `${ms(s.apiCreate.p50)} / ${ms(s.apiCreate.p95)} ms`, `raw first byte ${ms(s.rawFirstByte.p50)} / ${ms(s.rawFirstByte.p95)} ms`, `${(s.apiCreate.p50 / s.rawFirstByte.p50).toFixed(2)}×`, '—']);
    rows.push(['start: API create → first byte', `${ms(s.apiFirstByte.p50)} / ${ms(s.apiFirstByte.p95)} ms`, `raw first byte ${ms(s.rawFirstByte.p50)} / ${ms(s.rawFirstByte.p95)} ms`, `${s.ratioFirstByte.toFixed(2)}×`, `≤ 1.3× ${s.ratioFirstByte <= 1.3 ? 'met' : 'MISSED'}`]);
  }
  const c = results.concurrent;
  if (c) {
    const bad = c.failures + c.notServing;
    rows.push([`concurrent: ${c.n} creates, per request`, `${ms(c.perRequest.p50)} / ${ms(c.perRequest.p95)} ms`, `sequential ${ms(c.sequential.p50)} / ${ms(c.sequential.p95)} ms`, `${(c.perRequest.p50 / c.sequential.p50).toFixed(2)}×`, '—']);
    rows.push([`concurrent: wall of ${c.n} / failures`, `${ms(c.wallMs.p50)} / ${ms(c.wallMs.p95)} ms, ${bad} failed`, `${c.n} × sequential p50 ${ms(c.n * c.sequential.p50)} ms`, `${(c.wallMs.p50 / (c.n * c.sequential.p50)).toFixed(2)}×`, `0 failures ${bad === 0 ? 'met' : 'MISSED'}`]);
    rows.push([`concurrent: bulk DELETE of ${c.n}`, `${ms(c.deleteMs.p50)} / ${ms(c.deleteMs.p95)} ms, ${c.deleteFailures} failed`, '', '', '—']);
  }
  const m = results.memory;
  if (m) {
    rows.push([`memory: node heap per idle instance`, bytes(m.heapPerInstance), `baseline heap ${bytes(m.before.heapUsed)}`, '', `< 1 MiB ${m.heapPerInstance < 1024 * 1024 ? 'met' : 'MISSED'}`]);
    rows.push([`memory: node RSS per idle instance (rough)`, bytes(m.rssPerInstance), `baseline RSS ${bytes(m.before.rss)}`, '', '—']);
    rows.push([`memory: host per sandbox, processes`, bytes(m.shimPss.p50 + m.insidePss.p50), `shim PSS ${bytes(m.shimPss.p50)} + inside PSS ${bytes(m.insidePss.p50)}`, '', '—']);
    rows.push([`memory: host per sandbox, kernel (Slab Δ)`, bytes(m.slabPerInstance), `host-wide; MemAvailable Δ ${bytes(m.hostPerInstance)}`, '', '—']);
  }
  log('=== summary (p50 / p95) ===');
  log(table(['benchmark', 'measured', 'baseline (same run)', 'ratio', 'goal'], rows));
  if (results.errors.length > 0) log(`\n${results.errors.length} benchmark(s) failed:\n${results.errors.map((e) => `  ${e.split('\n')[0]}`).join('\n')}`);
  log(`total ${(results.totalMs / 1000).toFixed(1)} s`);
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
  return interrupts > 0 ? 130 : results.errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
