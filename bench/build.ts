/**
 * Build benchmark: examples/hello built and packaged (buildProject → OCI layout)
 * cold (empty build cache: fresh buildah storage) and warm (the same cache, one
 * changed file in the context), beside a bare `buildah bud` of the same
 * Dockerfile on the same kind of private vfs storage in the same run; then the
 * size of every catalog runtime image (built if the cache lacks it).
 *
 *   node dist/bench/build.js [--runs N] [--cold-runtimes] [--json FILE]
 *
 *   --runs N           warm builds to time (default 5; cold is one build per run of 3)
 *   --cold-runtimes    build the runtimes in a fresh cache and time them (slow: go ≈ 0.5 GiB)
 *
 * Exports benchBuild()/formatBuild() for bench/run.ts. Needs root (buildah) and
 * build/bin/hello (`make build/bin/hello`). Contacts only the Debian mirror,
 * through mmdebstrap, when a runtime has to be built.
 */
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildProject } from '../src/builder/build.js';
import { Buildah } from '../src/builder/buildah.js';
import { ensureRuntime, RUNTIME_NAMES } from '../src/builder/base-images.js';
import { exec } from '../src/lib/exec.js';
import { ms, table } from './stats.js';

const REPO = resolve(new URL('../..', import.meta.url).pathname);

export interface BuildBenchOptions {
  runs: number;
  coldRuntimes: boolean;
}

export interface RuntimeSize {
  name: string;
  mib: number;
  layers: number;
  /** Build time when this run built it, else undefined (came from the cache). */
  buildMs?: number;
}

export interface BuildBenchResult {
  /** buildProject (build + pkg) of examples/hello with an empty cache, per run. */
  coldMs: number[];
  /** The same with a warm cache and one changed file in the context. */
  warmMs: number[];
  /** `buildah bud` alone on fresh private vfs storage. */
  bareColdMs: number[];
  /** `buildah bud` alone on storage that already ran it, with one changed file. */
  bareWarmMs: number[];
  /** `hangar deploy` (build + pkg + push + create, until the instance runs) with an empty build cache and a fresh node. */
  deployColdMs: number[];
  /** `hangar deploy` again with one changed file (warm cache, layers already on the node). */
  deployWarmMs: number[];
  runtimes: RuntimeSize[];
}

const median = (v: readonly number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function time<T>(fn: () => Promise<T>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** A copy of examples/hello whose context is a private folder (so one file can change). */
async function helloProject(dir: string): Promise<{ project: string; binary: string }> {
  const ctx = join(dir, 'ctx');
  await mkdir(ctx, { recursive: true });
  const binary = join(ctx, 'hello');
  await copyFile(join(REPO, 'build', 'bin', 'hello'), binary);
  const project = join(dir, 'project');
  await mkdir(project);
  await copyFile(join(REPO, 'examples', 'hello', 'Dockerfile'), join(project, 'Dockerfile'));
  const kf = (await readFile(join(REPO, 'examples', 'hello', 'Kraftfile'), 'utf8')).replace('path: ../../build/bin', `path: ${ctx}`);
  await writeFile(join(project, 'Kraftfile'), kf);
  return { project, binary };
}

async function bareBud(storage: string, project: string, ctx: string): Promise<void> {
  await exec('unshare', [
    '--net',
    '--',
    'buildah',
    '--root',
    join(storage, 'root'),
    '--runroot',
    join(storage, 'runroot'),
    '--storage-driver',
    'vfs',
    'bud',
    '--isolation',
    'chroot',
    '--pull=never',
    '--quiet',
    '-f',
    join(project, 'Dockerfile'),
    ctx,
  ]);
}

export async function benchBuild(o: BuildBenchOptions, log: (s: string) => void = () => {}): Promise<BuildBenchResult> {
  const work = await mkdtemp(join(tmpdir(), 'hangar-bench-build-'));
  const r: BuildBenchResult = { coldMs: [], warmMs: [], bareColdMs: [], bareWarmMs: [], deployColdMs: [], deployWarmMs: [], runtimes: [] };
  try {
    const { project, binary } = await helloProject(work);
    const ctx = join(work, 'ctx');
    for (let i = 0; i < 3; i++) {
      const cache = join(work, `cold-${i}`);
      r.coldMs.push(await time(() => buildProject(project, { cacheDir: cache, outDir: join(work, 'out') })));
      const bare = join(work, `bare-${i}`);
      r.bareColdMs.push(await time(() => bareBud(bare, project, ctx)));
      log(`cold ${i + 1}/3: hangar ${ms(r.coldMs[i]!)}, bare buildah bud ${ms(r.bareColdMs[i]!)}`);
      if (i > 0) {
        await new Buildah(join(cache, 'buildah')).destroy();
        await rm(cache, { recursive: true, force: true });
        await new Buildah(bare).destroy();
      }
    }
    for (let i = 0; i < o.runs; i++) {
      await appendFile(binary, Buffer.from([0]));
      r.warmMs.push(await time(() => buildProject(project, { cacheDir: join(work, 'cold-0'), outDir: join(work, 'out') })));
      await appendFile(binary, Buffer.from([0]));
      r.bareWarmMs.push(await time(() => bareBud(join(work, 'bare-0'), project, ctx)));
      log(`warm ${i + 1}/${o.runs}: hangar ${ms(r.warmMs[i]!)}, bare buildah bud ${ms(r.bareWarmMs[i]!)}`);
    }
    await new Buildah(join(work, 'cold-0', 'buildah')).destroy();
    await new Buildah(join(work, 'bare-0')).destroy();
    await benchDeploy(work, project, binary, o.runs, r, log);

    const rtCache = o.coldRuntimes ? join(work, 'runtimes') : (process.env['HANGAR_BUILD_CACHE'] ?? join(REPO, 'build', 'cache'));
    for (const name of RUNTIME_NAMES) {
      const t = performance.now();
      const img = await ensureRuntime(name, { cacheDir: rtCache });
      r.runtimes.push({ name, mib: img.sizeBytes / 2 ** 20, layers: img.layers.length, ...(img.built ? { buildMs: performance.now() - t } : {}) });
      log(`runtime ${name}: ${(img.sizeBytes / 2 ** 20).toFixed(1)} MiB${img.built ? ` (built in ${ms(performance.now() - t)})` : ' (cached)'}`);
    }
    return r;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The whole `hangar deploy examples/hello` as a user runs it (the CLI's main()
 * in-process against a real node): cold = empty build cache and a node that
 * holds nothing; warm = one changed file. Beside it, bare `buildah bud` runs on
 * its own storage in the same loop.
 */
async function benchDeploy(work: string, project: string, binary: string, runs: number, r: BuildBenchResult, log: (s: string) => void): Promise<void> {
  const { startTestNode } = await import('../test/helpers/node.js');
  const { main } = await import('../src/cli/main.js');
  const quiet = { out: () => undefined, err: () => undefined, tty: false };
  const deploy = async (n: { url: string; token: string }, cache: string, name: string): Promise<void> => {
    const env = { ...process.env, UKC_METRO: n.url, UKC_TOKEN: n.token, HANGAR_BUILD_CACHE: cache, HOME: work, XDG_CONFIG_HOME: join(work, 'xdg') };
    const code = await main(['deploy', project, '-n', name], { ...quiet, env, cwd: work });
    if (code !== 0) throw new Error(`hangar deploy exited ${code}`);
  };
  for (let i = 0; i < 3; i++) {
    const n = await startTestNode();
    const cache = join(work, `deploy-cache-${i}`);
    try {
      r.deployColdMs.push(await time(() => deploy(n, cache, `cold-${i}`)));
      if (i === 0) {
        for (let k = 0; k < runs; k++) {
          await appendFile(binary, Buffer.from([0]));
          r.deployWarmMs.push(await time(() => deploy(n, cache, `warm-${k}`)));
          log(`deploy warm ${k + 1}/${runs}: ${ms(r.deployWarmMs[k]!)}`);
        }
      }
      log(`deploy cold ${i + 1}/3: ${ms(r.deployColdMs[i]!)}`);
    } finally {
      await n.close();
      await new Buildah(join(cache, 'buildah')).destroy().catch(() => undefined);
      await rm(cache, { recursive: true, force: true });
    }
  }
}

export function formatBuild(r: BuildBenchResult): string {
  const row = (what: string, v: readonly number[]): string[] => [what, ms(median(v)), ms(Math.min(...v)), ms(Math.max(...v)), String(v.length)];
  const builds = table(
    ['examples/hello (ms)', 'median', 'min', 'max', 'runs'],
    [
      row('hangar build+pkg, cold', r.coldMs),
      row('bare buildah bud, cold', r.bareColdMs),
      row('hangar build+pkg, warm (1 file changed)', r.warmMs),
      row('bare buildah bud, warm (1 file changed)', r.bareWarmMs),
      row('hangar deploy, cold (empty cache, fresh node)', r.deployColdMs),
      row('hangar deploy, warm (1 file changed)', r.deployWarmMs),
    ],
  );
  const sizes = table(
    ['runtime', 'MiB', 'layers', 'build'],
    r.runtimes.map((x) => [`runtimes/${x.name}:latest`, x.mib.toFixed(1), String(x.layers), x.buildMs === undefined ? 'cached' : ms(x.buildMs)]),
  );
  return `${builds}\n\n${sizes}`;
}

function parseArgs(argv: string[]): BuildBenchOptions & { json: string | undefined } {
  const o = { runs: 5, coldRuntimes: false, json: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--cold-runtimes') o.coldRuntimes = true;
    else if (a === '--json') o.json = argv[++i];
    else throw new Error(`unknown option ${a} (use --runs N, --cold-runtimes, --json FILE)`);
  }
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs needs a positive integer');
  return o;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const args = parseArgs(process.argv.slice(2));
  benchBuild(args, (s) => process.stderr.write(`bench build: ${s}\n`))
    .then((r) => {
      process.stdout.write(`${formatBuild(r)}\n`);
      if (args.json) writeFileSync(args.json, `${JSON.stringify(r, null, 2)}\n`);
    })
    .catch((e: unknown) => {
      process.stderr.write(`bench build: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    });
}
