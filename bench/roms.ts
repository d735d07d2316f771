/**
 * Benchmark 9 — ROMs (issue 9, Measure), on examples/python-roms, one node, one run.
 *
 *  (a) create → first byte of the python-roms base with one EROFS ROM at /rom,
 *      against the same base without a ROM (the baseline), interleaved.
 *      Goal: ROM ≤ 1.1× no ROM.
 *  (b) "update app code without rebuilding the base": from a changed rom.py to
 *      its new answer served by a new instance,
 *        rom    buildProject of the ROM folder (= hangar pkg rom1) + push + create with --rom
 *        image  buildProject of the base's Dockerfile + COPY rom.py (= hangar build of
 *               the whole app, every step run again) + push + create
 *      interleaved, each change a new rom.py; plus the blob bytes each path
 *      uploads per change. Goal: the ROM path ≥ 5× faster.
 *
 *   flock /tmp/hangar-test.lock node dist/bench/roms.js [--runs N] [--updates N] [--warmup N] [--json FILE]
 *
 *   --runs N      create → first byte pairs (default 20, after --warmup 2)
 *   --updates N   code changes per path (default 8, after one warm-up change each)
 *
 * Needs root (buildah, runc, netns) and `make images`. The python3 runtime is
 * taken from the build cache ($HANGAR_BUILD_CACHE, else build/cache) and built
 * there first if missing (from the Debian mirror, once). Only loopback and the
 * instances' addresses are contacted; everything is removed at the end.
 */
import { writeFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildProject } from '../src/builder/build.js';
import { RegistryClient } from '../src/distribution/client.js';
import { pushImage } from '../src/image/push.js';
import { checkAbort, firstByte, now, REPO, requestAbort, sleep, startBenchNode, type BenchNode } from './harness.js';
import { bytes, ms, ratio, summarize, table, type Summary } from './stats.js';

const EXAMPLE = join(REPO, 'examples', 'python-roms');
const BUILD_CACHE = process.env['HANGAR_BUILD_CACHE'] ?? join(REPO, 'build', 'cache');
const PORT = 8080;

export interface RomsBenchOptions {
  runs: number;
  warmup: number;
  updates: number;
  log: (line: string) => void;
}

export interface RomsBenchResult {
  runs: number;
  updates: number;
  /** POST (autostart, timeout_s) → first HTTP byte, ms. */
  firstByteRom: Summary;
  firstByteNoRom: Summary;
  ratioFirstByte: number;
  ratioFirstByteP95: number;
  /** Changed rom.py → its answer from a new instance, ms, with the parts. */
  updateRom: Summary;
  updateImage: Summary;
  /** image ÷ rom (p50): how many times faster the ROM path is. */
  speedup: number;
  speedupP95: number;
  parts: Record<'rom' | 'image', Record<'build' | 'push' | 'create' | 'answer', Summary>>;
  /** Blob bytes uploaded per change (manifests, < 2 KiB, not counted). */
  pushedRom: Summary;
  pushedImage: Summary;
  /** The whole image each path would push to an empty registry. */
  sizeRom: number;
  sizeImage: number;
  failures: string[];
}

/** GET / until it answers `want` (bounded); the time it did, or undefined. */
async function answered(ip: string, want: string, deadlineMs = 30_000): Promise<number | undefined> {
  const deadline = now() + deadlineMs;
  while (now() < deadline) {
    const body = await fetch(`http://${ip}:${PORT}/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text()).catch(() => undefined);
    if (body === want) return now();
    await sleep(2);
  }
  return undefined;
}

const romSource = (answer: string): string => `def function():\n    return ${JSON.stringify(answer)}\n`;

export async function benchRoms(o: RomsBenchOptions): Promise<RomsBenchResult> {
  const work = await mkdtemp(join(tmpdir(), 'hangar-bench-roms-'));
  let bn: BenchNode | undefined;
  let client: RegistryClient | undefined;
  const failures: string[] = [];
  try {
    // Projects: the example's base and ROM folder, and the same app with rom.py baked into the image.
    const romDir = join(work, 'rom');
    await mkdir(join(romDir, 'fs'), { recursive: true });
    await copyFile(join(EXAMPLE, 'rom1', 'Kraftfile'), join(romDir, 'Kraftfile'));
    const appDir = join(work, 'app');
    await mkdir(appDir, { recursive: true });
    await copyFile(join(EXAMPLE, 'base', 'Kraftfile'), join(appDir, 'Kraftfile'));
    await copyFile(join(EXAMPLE, 'base', 'server.py'), join(appDir, 'server.py'));
    // The whole app as one image: the base's Dockerfile, every step of it, plus the code.
    const baseDockerfile = await readFile(join(EXAMPLE, 'base', 'Dockerfile'), 'utf8');
    await writeFile(join(appDir, 'Dockerfile'), `${baseDockerfile}COPY rom.py /rom/rom.py\n`);

    bn = await startBenchNode({ prewarm: 4 });
    const node = bn;
    const c = new RegistryClient({ registry: node.node.url, credentials: { username: 'hangar', password: node.node.adminToken! }, timeoutMs: 120_000 });
    client = c;
    const build = (dir: string, tag: string) => buildProject(dir, { cacheDir: BUILD_CACHE, outDir: join(work, 'out', tag), name: `bench:${tag}` });
    const push = (layout: string, repo: string, tag: string) => pushImage(c, layout, repo, tag);

    o.log('building and pushing the python-roms base and a ROM …');
    const base = await build(join(EXAMPLE, 'base'), 'base');
    await push(base.layoutDir, 'python-roms-base', 'latest');
    await writeFile(join(romDir, 'fs', 'rom.py'), romSource('Hi from the bench ROM!\n'));
    const rom0 = await build(romDir, 'rom0');
    await push(rom0.layoutDir, 'bench-rom', 'v0');

    // (a) create → first byte, with and without a ROM, interleaved (order alternating).
    const withRom: number[] = [];
    const without: number[] = [];
    const once = async (rom: boolean): Promise<number | undefined> => {
      await node.waitPool();
      const t0 = now();
      const r = await node.create({ image: 'python-roms-base:latest', memory_mb: 256, ...(rom ? { roms: [{ image: 'bench-rom:v0', at: '/rom' }] } : {}) });
      const inst = r.items[0];
      const ip = inst?.['private_ip'];
      let t: number | undefined;
      if (r.status < 300 && inst?.['state'] === 'running' && typeof ip === 'string') t = await firstByte(ip, PORT);
      const body = typeof ip === 'string' ? await fetch(`http://${ip}:${PORT}/`, { signal: AbortSignal.timeout(5000) }).then((x) => x.text()).catch(() => '') : '';
      const want = rom ? 'Hi from the bench ROM!\n' : 'No code loaded\n';
      if (t === undefined || body !== want) failures.push(`create ${rom ? 'with' : 'without'} ROM: ${r.status} ${JSON.stringify(inst ?? r.json).slice(0, 300)} answered ${JSON.stringify(body)}`);
      if (typeof inst?.['uuid'] === 'string') await node.api('DELETE', `/v1/instances/${inst['uuid']}`);
      return t === undefined || body !== want ? undefined : t - t0;
    };
    for (let i = 0; i < o.warmup + o.runs; i++) {
      checkAbort();
      const order = i % 2 === 0 ? [true, false] : [false, true];
      for (const rom of order) {
        const v = await once(rom);
        if (i >= o.warmup && v !== undefined) (rom ? withRom : without).push(v);
      }
      if (i >= o.warmup) o.log(`first byte ${i - o.warmup + 1}/${o.runs}: ROM ${ms(withRom.at(-1) ?? NaN)} ms, no ROM ${ms(without.at(-1) ?? NaN)} ms`);
    }

    // (b) a code change served: pkg ROM + push + create vs rebuild image + push + create.
    type Path = 'rom' | 'image';
    const parts: Record<Path, Record<'build' | 'push' | 'create' | 'answer', number[]>> = {
      rom: { build: [], push: [], create: [], answer: [] },
      image: { build: [], push: [], create: [], answer: [] },
    };
    const total: Record<Path, number[]> = { rom: [], image: [] };
    const pushed: Record<Path, number[]> = { rom: [], image: [] };
    const size: Record<Path, number> = { rom: 0, image: 0 };
    let change = 0;
    const update = async (path: Path, record: boolean): Promise<void> => {
      const answer = `change ${++change} via ${path}\n`;
      const tag = `v${change}`;
      await writeFile(join(path === 'rom' ? join(romDir, 'fs') : appDir, 'rom.py'), romSource(answer));
      await node.waitPool();
      const t0 = now();
      const built = await build(path === 'rom' ? romDir : appDir, `${path}-${tag}`);
      const t1 = now();
      const p = await push(built.layoutDir, path === 'rom' ? 'bench-rom' : 'bench-app', tag);
      const t2 = now();
      const body = path === 'rom' ? { image: 'python-roms-base:latest', roms: [{ image: `bench-rom:${tag}`, at: '/rom' }] } : { image: `bench-app:${tag}` };
      const r = await node.create({ ...body, memory_mb: 256 });
      const t3 = now();
      const inst = r.items[0];
      const ip = inst?.['private_ip'];
      const t4 = r.status < 300 && typeof ip === 'string' ? await answered(ip, answer) : undefined;
      if (typeof inst?.['uuid'] === 'string') await node.api('DELETE', `/v1/instances/${inst['uuid']}`);
      await rm(built.layoutDir, { recursive: true, force: true });
      if (t4 === undefined) {
        failures.push(`update via ${path}: ${r.status} ${JSON.stringify(inst ?? r.json).slice(0, 300)}`);
        return;
      }
      size[path] = built.sizeBytes;
      if (!record) return;
      parts[path].build.push(t1 - t0);
      parts[path].push.push(t2 - t1);
      parts[path].create.push(t3 - t2);
      parts[path].answer.push(t4 - t3);
      total[path].push(t4 - t0);
      pushed[path].push(p.bytesPushed);
      o.log(`update ${path} ${tag}: ${ms(t4 - t0)} ms (build ${ms(t1 - t0)}, push ${ms(t2 - t1)} of ${bytes(p.bytesPushed)}, create ${ms(t3 - t2)}, answer ${ms(t4 - t3)})`);
    };
    for (let i = 0; i < 1 + o.updates; i++) {
      checkAbort();
      const order: Path[] = i % 2 === 0 ? ['rom', 'image'] : ['image', 'rom'];
      for (const path of order) await update(path, i > 0);
    }

    const s = (v: number[]): Summary => summarize(v);
    const fr = s(withRom);
    const fn = s(without);
    const ur = s(total.rom);
    const ui = s(total.image);
    const sumParts = (p: Path) => ({ build: s(parts[p].build), push: s(parts[p].push), create: s(parts[p].create), answer: s(parts[p].answer) });
    return {
      runs: o.runs,
      updates: o.updates,
      firstByteRom: fr,
      firstByteNoRom: fn,
      ratioFirstByte: fr.p50 / fn.p50,
      ratioFirstByteP95: fr.p95 / fn.p95,
      updateRom: ur,
      updateImage: ui,
      speedup: ui.p50 / ur.p50,
      speedupP95: ui.p95 / ur.p95,
      parts: { rom: sumParts('rom'), image: sumParts('image') },
      pushedRom: s(pushed.rom),
      pushedImage: s(pushed.image),
      sizeRom: size.rom,
      sizeImage: size.image,
      failures,
    };
  } finally {
    client?.close();
    try {
      await bn?.close();
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

export function formatRoms(r: RomsBenchResult): string {
  const row = (name: string, v: Summary, base: Summary | undefined, rr: string, goal: string): string[] => [name, `${ms(v.p50)} / ${ms(v.p95)} ms`, base ? `${ms(base.p50)} / ${ms(base.p95)} ms` : '', rr, goal];
  const lines = [
    table(
      ['ROMs (p50 / p95)', 'measured', 'baseline (same run)', 'ratio', 'goal'],
      [
        row(`create → first byte, ROM at /rom (n=${r.firstByteRom.n})`, r.firstByteRom, r.firstByteNoRom, ratio(r.firstByteRom.p50, r.firstByteNoRom.p50), `≤ 1.1× ${r.ratioFirstByte <= 1.1 ? 'met' : 'MISSED'}`),
        row(`code change → served, ROM path (n=${r.updateRom.n})`, r.updateRom, r.updateImage, `${r.speedup.toFixed(2)}× faster`, `≥ 5× ${r.speedup >= 5 ? 'met' : 'MISSED'}`),
      ],
    ),
    '',
    table(
      ['code change, parts (p50 ms)', 'build/pkg', 'push', 'create', 'create → answer', 'blob bytes pushed (p50)', 'whole image'],
      (['rom', 'image'] as const).map((p) => [
        p === 'rom' ? 'pkg ROM + push + create --rom' : 'rebuild image + push + create',
        ms(r.parts[p].build.p50),
        ms(r.parts[p].push.p50),
        ms(r.parts[p].create.p50),
        ms(r.parts[p].answer.p50),
        bytes((p === 'rom' ? r.pushedRom : r.pushedImage).p50),
        bytes(p === 'rom' ? r.sizeRom : r.sizeImage),
      ]),
    ),
  ];
  if (r.failures.length > 0) lines.push('', `${r.failures.length} failure(s):`, ...r.failures.map((f) => `  ${f}`));
  return lines.join('\n');
}

function parseArgs(argv: string[]): { runs: number; warmup: number; updates: number; json: string | undefined } {
  const a = { runs: 20, warmup: 2, updates: 8, json: undefined as string | undefined };
  const int = (flag: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} needs an integer ${min}..${max}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === '--runs') a.runs = int(f, argv[++i], 1, 500);
    else if (f === '--warmup') a.warmup = int(f, argv[++i], 0, 50);
    else if (f === '--updates') a.updates = int(f, argv[++i], 1, 100);
    else if (f === '--json') a.json = argv[++i];
    else throw new Error(`unknown option ${f} (use --runs N, --warmup N, --updates N, --json FILE)`);
  }
  return a;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: must run as root (buildah, runc, network namespaces)\n');
    process.exit(2);
  }
  process.on('SIGINT', () => requestAbort('SIGINT'));
  process.on('SIGTERM', () => requestAbort('SIGTERM'));
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`hangar ROM benchmark — ${new Date().toISOString()} — --runs ${args.runs} --warmup ${args.warmup} --updates ${args.updates}`);
  benchRoms({ ...args, log }).then(
    (r) => {
      log('');
      log(formatRoms(r));
      if (args.json) writeFileSync(args.json, `${JSON.stringify(r, null, 2)}\n`);
      process.exit(r.failures.length > 0 ? 1 : 0);
    },
    (e: unknown) => {
      process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
