/**
 * Benchmark — images from a central registry (Debian's docker-registry, CNCF
 * Distribution 2.8, on loopback).
 *
 *  cold   POST /v1/instances {image: '<central>/bench/hello:<run>', autostart, timeout_s}
 *         for an image only central holds (its layers are unique to the run, so
 *         nothing is cached) → response (running) → first HTTP byte
 *  warm   the same image again, now held by the node
 *  skopeo (with --throughput) push and pull of one image of --size MiB
 *         (incompressible) with skopeo, against the node's /v2/ and against
 *         docker-registry, in the same run
 *  layers (with --throughput, --many-layers or --layers N) push and pull of one
 *         image of N (default 500) distinct tiny layers (bench/layers.ts), node
 *         vs docker-registry, median of min(--runs, 3) runs, fresh repository,
 *         tag and content every run; --layers 0 turns it off
 *
 *   node dist/bench/central.js [--runs N] [--pad MiB] [--throughput] [--size MiB]
 *                              [--many-layers] [--layers N] [--json FILE]
 *
 * Needs root and `make images`. Contacts only loopback and the instances'
 * addresses; removes everything at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../src/lib/exec.js';
import { extractOciArchive } from '../src/image/oci-archive.js';
import { buildOciImage, writeOciArchive } from '../src/image/oci-writer.js';
import { buildTar } from '../src/image/tar-writer.js';
import { skopeoCopy, startDockerRegistry, type DockerRegistry } from '../test/integration/central/docker-registry.js';
import { firstByte, HELLO_ARCHIVE, now, startBenchNode, type BenchNode } from './harness.js';
import { manyLayersBench, type LayersResult, type LayersRow } from './layers.js';
import { ms, ratio, summarize, table, type Summary } from './stats.js';

interface Args {
  runs: number;
  padMiB: number;
  throughput: boolean;
  sizeMiB: number;
  /** Layers of the many-layers image; undefined: 500 with --throughput or --many-layers, else off. */
  layers: number | undefined;
  manyLayers: boolean;
  json: string | undefined;
}

const DEFAULT_LAYERS = 500;

/** Layers of the many-layers image, 0 when that part is off. */
function layerCount(a: Args): number {
  return a.layers ?? (a.throughput || a.manyLayers ? DEFAULT_LAYERS : 0);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { runs: 10, padMiB: 0, throughput: false, sizeMiB: 200, layers: undefined, manyLayers: false, json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${k} needs a number`);
      return v;
    };
    if (k === '--runs') a.runs = Math.max(1, num());
    else if (k === '--pad') a.padMiB = num();
    else if (k === '--throughput') a.throughput = true;
    else if (k === '--size') a.sizeMiB = Math.max(1, num());
    else if (k === '--many-layers') a.manyLayers = true;
    else if (k === '--layers') a.layers = Math.floor(num());
    else if (k === '--json') a.json = argv[++i];
    else throw new Error(`unknown option ${k}`);
  }
  return a;
}

/** The hello image's layer and config, from the bundled archive. */
async function helloParts(): Promise<{ layer: Buffer; config: Record<string, unknown> }> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-hello-'));
  try {
    await extractOciArchive(HELLO_ARCHIVE, dir);
    const blob = (d: string): Buffer => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7)));
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const config = JSON.parse(blob(manifest.config.digest).toString()) as { config: Record<string, unknown> };
    return { layer: blob(manifest.layers[0]!.digest), config: config.config };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * hello with a layer of its own: the hello tar with one more file of random
 * bytes appended (buildTar ends with exactly two zero blocks), plus `padMiB` of
 * incompressible padding in a second layer.
 */
function uniqueHello(parts: { layer: Buffer; config: Record<string, unknown> }, padMiB: number) {
  const extra = buildTar([{ path: 'etc/bench-id', type: 'file', data: randomBytes(32) }]);
  const layers: Array<{ blob: Buffer }> = [{ blob: Buffer.concat([parts.layer.subarray(0, parts.layer.length - 1024), extra]) }];
  if (padMiB > 0) layers.push({ blob: buildTar([{ path: 'pad', type: 'file', data: randomBytes(Math.round(padMiB * 1024 * 1024)) }]) });
  return buildOciImage({ layers, config: parts.config, refName: 'latest' });
}

interface Sample {
  createMs: number;
  firstByteMs: number;
}

export interface CentralResult {
  runs: number;
  imageBytes: number;
  cold: { create: Summary; firstByte: Summary };
  warm: { create: Summary; firstByte: Summary };
  throughput?: { sizeMiB: number; rows: Array<{ target: string; op: string; seconds: number; mibPerS: number }> };
  manyLayers?: LayersResult;
  failures: string[];
}

async function createAndProbe(bn: BenchNode, image: string, name: string): Promise<Sample> {
  const t0 = now();
  const r = await bn.create({ image, name, timeout_s: 60 }, 120_000);
  const t1 = now();
  if (r.status !== 200 || r.items[0]?.['state'] !== 'running') throw new Error(`create ${image}: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
  const fb = await firstByte(String(r.items[0]!['private_ip']), 8080, 15_000);
  if (fb === undefined) throw new Error(`no first byte from ${name}`);
  await bn.api('DELETE', '/v1/instances', [{ name }]);
  return { createMs: t1 - t0, firstByteMs: fb - t0 };
}

async function throughput(bn: BenchNode, central: DockerRegistry, sizeMiB: number, runs: number, log: (s: string) => void): Promise<CentralResult['throughput']> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-big-'));
  const rows: Array<{ target: string; op: string; seconds: number; mibPerS: number }> = [];
  try {
    const archive = join(dir, 'big.oci.tar');
    let mib = 0;
    const nodeHost = new URL(bn.node.url).host;
    const creds = `admin:${bn.node.adminToken!}`;
    const targets = [
      { target: 'hangar node /v2/', host: nodeHost, creds },
      { target: 'docker-registry', host: central.host, creds: undefined },
    ];
    for (let run = 0; run < runs; run++) {
      // New content every run, so no push finds its blob already there.
      const layer = buildTar([{ path: 'big', type: 'file', data: randomBytes(sizeMiB * 1024 * 1024) }]);
      await writeOciArchive(buildOciImage({ layers: [{ blob: layer }], config: { Cmd: ['/big'] }, refName: 'latest' }), archive);
      mib = statSync(archive).size / 1024 / 1024;
      for (const t of run % 2 === 0 ? targets : [...targets].reverse()) {
        const ref = `docker://${t.host}/bench/big:r${run}`;
        let t0 = now();
        await skopeoCopy(`oci-archive:${archive}`, ref, t.creds ? { destCreds: t.creds } : {});
        let s = (now() - t0) / 1000;
        rows.push({ target: t.target, op: 'push', seconds: s, mibPerS: mib / s });
        log(`  ${t.target} push ${s.toFixed(2)} s (${(mib / s).toFixed(0)} MiB/s)`);
        const out = join(dir, `pull-${run}-${t.target.replace(/\W+/g, '')}`);
        t0 = now();
        await skopeoCopy(ref, `oci:${out}:latest`, t.creds ? { srcCreds: t.creds } : {});
        s = (now() - t0) / 1000;
        rows.push({ target: t.target, op: 'pull', seconds: s, mibPerS: mib / s });
        log(`  ${t.target} pull ${s.toFixed(2)} s (${(mib / s).toFixed(0)} MiB/s)`);
        rmSync(out, { recursive: true, force: true });
        if (t.creds) await bn.node.catalog.remove(`bench/big:r${run}`).catch(() => undefined);
      }
      await exec('sync', [], { allowFailure: true });
    }
    return { sizeMiB: Math.round(mib), rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchCentral(a: Args, log: (s: string) => void): Promise<CentralResult> {
  const central = await startDockerRegistry();
  // Central is configured: since issue 8 a node pulls from no other loopback registry.
  const bn = await startBenchNode({ prewarm: 4, central: { url: `http://${central.host}` } });
  const failures: string[] = [];
  const cold: Sample[] = [];
  const warm: Sample[] = [];
  let imageBytes = 0;
  try {
    const parts = await helloParts();
    const work = mkdtempSync(join(tmpdir(), 'hangar-bench-central-'));
    try {
      for (let i = 0; i < a.runs; i++) {
        const img = uniqueHello(parts, a.padMiB);
        imageBytes = [...img.blobs.values()].reduce((n, b) => n + b.length, 0);
        const archive = join(work, `v${i}.oci.tar`);
        await writeOciArchive(img, archive);
        await skopeoCopy(`oci-archive:${archive}`, `docker://${central.host}/bench/hello:r${i}`);
        const ref = `${central.host}/bench/hello:r${i}`;
        await bn.waitPool();
        try {
          cold.push(await createAndProbe(bn, ref, `cold-${i}`));
          await bn.waitPool();
          warm.push(await createAndProbe(bn, ref, `warm-${i}`));
          log(`run ${i + 1}/${a.runs}: cold ${ms(cold[cold.length - 1]!.firstByteMs)} warm ${ms(warm[warm.length - 1]!.firstByteMs)} (first byte)`);
        } catch (e) {
          failures.push(String(e));
          log(`run ${i + 1}: ${String(e)}`);
        }
        rmSync(archive, { force: true });
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    const result: CentralResult = {
      runs: a.runs,
      imageBytes,
      cold: { create: summarize(cold.map((s) => s.createMs)), firstByte: summarize(cold.map((s) => s.firstByteMs)) },
      warm: { create: summarize(warm.map((s) => s.createMs)), firstByte: summarize(warm.map((s) => s.firstByteMs)) },
      failures,
    };
    if (a.throughput) {
      log(`skopeo push/pull of a ${a.sizeMiB} MiB image:`);
      try {
        const tp = await throughput(bn, central, a.sizeMiB, Math.max(1, Math.min(a.runs, 3)), log);
        if (tp) result.throughput = tp;
      } catch (e) {
        failures.push(`throughput: ${String(e)}`);
        log(`throughput: ${String(e)}`);
      }
    }
    const n = layerCount(a);
    if (n > 0) {
      log(`skopeo push/pull of an image of ${n} small layers:`);
      const nodeHost = new URL(bn.node.url).host;
      // A failure here still leaves the figures above to report.
      result.manyLayers = await manyLayersBench(
        [
          {
            target: 'hangar node /v2/',
            host: nodeHost,
            creds: `admin:${bn.node.adminToken!}`,
            cleanup: async (repo, tag) => void (await bn.node.catalog.remove(`${repo}:${tag}`)),
          },
          { target: 'docker-registry', host: central.host },
        ],
        n,
        Math.max(1, Math.min(a.runs, 3)),
        log,
      ).catch((e: unknown) => {
        failures.push(`many layers: ${String(e)}`);
        log(`many layers: ${String(e)}`);
        return undefined;
      });
    }
    return result;
  } finally {
    await bn.close();
    await central.destroy();
  }
}

/** The many-layers table: p50 time, layers/s and MiB/s per target and op, and node/docker-registry ratios. */
function formatLayers(m: LayersResult): string {
  const of = (target: string, op: string, f: (x: LayersRow) => number): Summary => summarize(m.rows.filter((x) => x.target === target && x.op === op).map(f));
  const targets = [...new Set(m.rows.map((x) => x.target))];
  const rows: string[][] = [];
  for (const op of ['push', 'pull']) {
    const ref = of('docker-registry', op, (x) => x.layersPerS).p50;
    for (const target of targets) {
      const s = of(target, op, (x) => x.seconds);
      const lps = of(target, op, (x) => x.layersPerS).p50;
      rows.push([
        target,
        op,
        `${s.p50.toFixed(2)} s`,
        `${s.min.toFixed(2)}–${s.max.toFixed(2)}`,
        `${lps.toFixed(0)}`,
        `${of(target, op, (x) => x.mibPerS).p50.toFixed(2)}`,
        ratio(lps, ref),
        `${((s.p50 * 1000) / m.layers).toFixed(1)} ms`,
      ]);
    }
  }
  const runs = new Set(m.rows.map((x) => x.run)).size;
  return (
    `\nskopeo, one image of ${m.layers} layers (${(m.layerBytes / 1024 / 1024).toFixed(2)} MiB of layers, archive ${(m.archiveBytes / 1024 / 1024).toFixed(2)} MiB), p50 of ${runs} runs\n` +
    `(ratio = p50 layers/s / docker-registry's: below 1× the node is slower; per layer = p50 time / layers)\n` +
    `${table(['target', 'op', 'p50 time', 'range', 'layers/s', 'MiB/s', 'ratio', 'per layer'], rows)}\n`
  );
}

export function formatCentral(r: CentralResult): string {
  const row = (what: string, s: Summary): string[] => [what, ms(s.p50), ms(s.p95), ms(s.min), ms(s.max)];
  let out = `Image only in central (cold pull) vs already on the node; image ${(r.imageBytes / 1024 / 1024).toFixed(1)} MiB, ${r.runs} runs\n`;
  out += table(['', 'p50', 'p95', 'min', 'max'], [
    row('cold: create → running', r.cold.create),
    row('cold: first byte', r.cold.firstByte),
    row('warm: create → running', r.warm.create),
    row('warm: first byte', r.warm.firstByte),
  ]);
  out += '\n';
  if (r.throughput) {
    const tp = r.throughput;
    const p50 = (target: string, op: string, f: (x: (typeof tp.rows)[number]) => number): Summary => summarize(tp.rows.filter((x) => x.target === target && x.op === op).map(f));
    const rows: string[][] = [];
    for (const op of ['push', 'pull']) {
      const ref = p50('docker-registry', op, (x) => x.mibPerS).p50;
      for (const target of [...new Set(tp.rows.map((x) => x.target))]) {
        const s = p50(target, op, (x) => x.mibPerS);
        rows.push([target, op, `${p50(target, op, (x) => x.seconds).p50.toFixed(2)} s`, `${s.p50.toFixed(0)} MiB/s`, `${s.min.toFixed(0)}–${s.max.toFixed(0)}`, ratio(s.p50, ref)]);
      }
    }
    const n = tp.rows.filter((x) => x.target === 'docker-registry' && x.op === 'push').length;
    out += `\nskopeo, one ${tp.sizeMiB} MiB image (p50 of ${n} runs; ratio = p50 throughput / docker-registry's: below 1× the node is slower)\n${table(['target', 'op', 'p50 time', 'p50 throughput', 'range', 'ratio'], rows)}\n`;
  }
  if (r.manyLayers) out += formatLayers(r.manyLayers);
  if (r.failures.length > 0) out += `\nfailures:\n  ${r.failures.join('\n  ')}\n`;
  return out;
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'));
if (isMain) {
  const args = parseArgs(process.argv.slice(2));
  benchCentral(args, (s) => process.stderr.write(`${s}\n`)).then(
    (r) => {
      process.stdout.write(formatCentral(r));
      if (args.json) writeFileSync(args.json, `${JSON.stringify(r, null, 2)}\n`);
      if (r.failures.length > 0) process.exitCode = 1;
    },
    (e: unknown) => {
      process.stderr.write(`bench central: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
