/**
 * Issue 8 robustness measurements:
 *
 * 1. `/v1/healthz` and `GET /v1/instances` latency (p50/p99) while one bulk
 *    create of N (default 1000) `autostart: false` instances runs, then while
 *    one bulk delete of all of them runs. Two client loops poll one request
 *    after the other for the whole bulk request (the node runs in this
 *    process, as the other benchmarks do).
 * 2. Node RSS (a separate node process, /proc/<pid>/status) idle, at peak and
 *    after 5 concurrent 200 MB `/v1` bodies (3 with Content-Length, 2 chunked).
 *
 *   node dist/bench/robustness.js [--n 1000] [--json FILE] [--rss-only | --no-rss]
 *
 * Needs root; run under the shared lock. Wall time is bounded: each bulk
 * request may take at most 10 minutes.
 */
import { writeFileSync } from 'node:fs';
import { postLarge, rssMb, sampleRssPeak } from '../test/helpers/large-body.js';
import { spawnNodeProcess, teardown, testConfig } from '../test/helpers/node.js';
import { now, sleep, startBenchNode } from './harness.js';
import { ms, percentile, table } from './stats.js';

const BULK_TIMEOUT_MS = 600_000;

interface Latencies {
  healthz: number[];
  list: number[];
  bulkMs: number;
  ok: number;
}

/** Polls healthz and the instance list, each one request after the other, until `work` settles. */
async function pollWhile(url: string, token: string, work: () => Promise<{ ok: number }>): Promise<Latencies> {
  let done = false;
  const loop = async (path: string, auth: boolean, out: number[]): Promise<void> => {
    for (let i = 0; i < 1_000_000 && !done; i++) {
      const t0 = now();
      const r = await fetch(`${url}${path}`, auth ? { headers: { authorization: `Bearer ${token}` } } : {});
      await r.arrayBuffer();
      out.push(now() - t0);
    }
  };
  const healthz: number[] = [];
  const list: number[] = [];
  const t0 = now();
  const loops = Promise.all([loop('/v1/healthz', false, healthz), loop('/v1/instances?details=false', true, list)]);
  const r = await work().finally(() => (done = true));
  const bulkMs = now() - t0;
  await loops;
  return { healthz, list, bulkMs, ok: r.ok };
}



async function bodiesRss(): Promise<{ idle: number; peak: number; held: number; statuses: number[]; exitCode: number | null }> {
  const config = testConfig({ kind: 'bench' });
  const port = 20000 + Math.floor(Math.random() * 20000);
  let child: Awaited<ReturnType<typeof spawnNodeProcess>>['child'] | undefined;
  try {
    const started = await spawnNodeProcess(config, port);
    child = started.child;
    const pid = child.pid!;
    await sleep(1000);
    const idle = rssMb(pid);
    const sampler = sampleRssPeak(pid);
    const statuses = await Promise.all([false, true, false, true, false].map((c) => postLarge(started.url, started.token, 200, c)));
    await sleep(1000);
    const peak = await sampler.stop();
    return { idle, peak, held: rssMb(pid), statuses, exitCode: child.exitCode };
  } finally {
    await teardown(config, async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child!.once('exit', r));
      }
    });
  }
}

async function bulkPart(n: number, jsonOut: string | undefined): Promise<void> {
  const bn = await startBenchNode({ prewarm: 0 });
  let create: Latencies;
  let del: Latencies;
  try {
    const token = bn.node.adminToken!;
    const body = Array.from({ length: n }, (_, i) => ({ name: `rb-${i}`, image: 'hello:latest', autostart: false }));
    let uuids: string[] = [];
    create = await pollWhile(bn.node.url, token, async () => {
      const r = await bn.api('POST', '/v1/instances', body, BULK_TIMEOUT_MS);
      uuids = r.items.filter((e) => e['status'] === 'success').map((e) => String(e['uuid']));
      uuids.forEach((u) => bn.created.add(u));
      return { ok: uuids.length };
    });
    del = await pollWhile(bn.node.url, token, async () => {
      const r = await bn.api('DELETE', '/v1/instances', uuids.map((uuid) => ({ uuid })), BULK_TIMEOUT_MS);
      return { ok: r.items.filter((e) => e['status'] === 'success').length };
    });
  } finally {
    await bn.close();
  }
  const row = (what: string, l: Latencies): string[][] => [
    [`${what}: healthz`, String(l.healthz.length), ms(percentile(l.healthz, 50)), ms(percentile(l.healthz, 99)), ms(Math.max(...l.healthz)), ms(l.bulkMs), `${l.ok}/${n}`],
    [`${what}: GET /v1/instances`, String(l.list.length), ms(percentile(l.list, 50)), ms(percentile(l.list, 99)), ms(Math.max(...l.list)), '', ''],
  ];
  process.stdout.write(`${table(['while', 'requests', 'p50 ms', 'p99 ms', 'max ms', 'bulk ms', 'items ok'], [...row(`bulk create of ${n}`, create), ...row(`bulk delete of ${n}`, del)])}\n\n`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ n, create, del }, null, 1));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const n = Number(args[args.indexOf('--n') + 1] ?? 1000) || 1000;
  const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
  if (!args.includes('--rss-only')) await bulkPart(n, jsonOut);
  if (args.includes('--no-rss')) return;
  const rss = await bodiesRss();
  process.stdout.write(`${table(['5 × 200 MB bodies', 'idle MB', 'peak MB', 'after MB', 'statuses'], [['node RSS', rss.idle.toFixed(0), rss.peak.toFixed(0), rss.held.toFixed(0), rss.statuses.join(' ')]])}\n`);
  if (rss.exitCode !== null) process.stdout.write(`the node process exited (${rss.exitCode})\n`);
  if (jsonOut) writeFileSync(`${jsonOut}.rss`, JSON.stringify(rss, null, 1));
}

await main();
