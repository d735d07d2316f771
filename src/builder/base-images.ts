/**
 * The runtimes catalog: `base`, `python3`, `node`, `go`. Each is an OCI image
 * `runtimes/<name>:latest` built from the recipe `runtimes/<name>/recipe.yaml`
 * in this repository, on first use, without any container registry:
 *
 * - `skeleton`: the layer every hangar image needs (skeleton.ts);
 * - `host.busybox`: Debian's static busybox from the host plus one symlink per applet;
 * - `host.binaries`: host binaries with exactly the shared libraries `ldd` lists;
 * - `debian`: Debian packages (with their dependencies) from the Debian mirror,
 *   unpacked with `mmdebstrap --variant=extract` (no maintainer scripts run).
 *
 * A recipe may sit on another runtime (`base:`): its layers come first. Layers
 * are reproducible (sorted entries, fixed mtimes, root owner) and uncompressed.
 * Built images are cached under `<cacheDir>/runtimes/<name>/<key>/layout`, the
 * key being a hash of the recipe, of the base's key and of the host files used;
 * a changed recipe builds a new image and prunes the old one.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { digestFile } from '../lib/digest.js';
import { readOciLayout, blobPath } from '../image/oci-layout.js';
import { buildOciImage, writeOciLayout, type OciFileLayerInput } from '../image/oci-writer.js';
import { MT } from '../oci/media-types.js';
import { hangarHome, readSettings } from '../lib/settings.js';
import { HangarError } from '../lib/errors.js';
import { noProgress, type ProgressFn } from './events.js';
import type { FileBlob } from './layer.js';
import { tempDir } from './tmp.js';
import { buildLayer, hostInputs } from './base-layers.js';
import { createdAt, defaultCreated } from './times.js';

export const RUNTIME_NAMES = ['base', 'python3', 'node', 'go'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/** Names people write for the catalog runtimes (UKC's `python:3.12`, `base-compat`, …). */
const ALIASES: Record<string, RuntimeName> = {
  base: 'base',
  'base-compat': 'base',
  python3: 'python3',
  python: 'python3',
  node: 'node',
  nodejs: 'node',
  go: 'go',
  golang: 'go',
};

/** Bumped when the way layers are made changes, so cached runtimes are rebuilt. */
const BUILDER_VERSION = 1;

export const runtimeRef = (name: RuntimeName): string => `runtimes/${name}:latest`;

export const missingRuntime = (ref: string): HangarError =>
  new HangarError('not_found', `runtime '${ref}' is not in hangar's catalog (use one of: ${RUNTIME_NAMES.join(', ')})`, { field: 'runtime' });

/**
 * The catalog runtime a `runtime:` value or image reference names: `python3`,
 * `runtimes/python3:latest`, `index.unikraft.io/official/python:3.12`, `127.0.0.1:5000/runtimes/go`.
 * `note` says when the tag asked for is not what the catalog has.
 */
export function resolveRuntimeName(ref: string): { name: RuntimeName; note?: string } {
  let s = ref.trim().replace(/^oci:\/\//, '');
  const at = s.indexOf('@');
  if (at >= 0) s = s.slice(0, at);
  const parts = s.split('/');
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0]!)) parts.shift();
  const last = parts.pop() ?? '';
  const colon = last.indexOf(':');
  const base = colon >= 0 ? last.slice(0, colon) : last;
  const tag = colon >= 0 ? last.slice(colon + 1) : undefined;
  const ns = parts.join('/');
  const name = ['', 'runtimes', 'official', 'library', 'unikraft.org', 'hangar/runtimes'].includes(ns) ? ALIASES[base] : undefined;
  if (!name) throw missingRuntime(ref);
  if (tag !== undefined && tag !== 'latest') return { name, note: `runtime '${ref}' → hangar's ${runtimeRef(name)} (the catalog has one version of each runtime)` };
  return { name };
}

// ---- recipes -----------------------------------------------------------------------------------------

const layerSchema = z.union([
  z.strictObject({ skeleton: z.literal(true) }),
  z.strictObject({ host: z.strictObject({ busybox: z.string() }) }),
  z.strictObject({ host: z.strictObject({ binaries: z.array(z.string()).min(1) }) }),
  z.strictObject({
    debian: z.strictObject({
      suite: z.string(),
      packages: z.array(z.string()).min(1),
      exclude: z.array(z.string()).default([]),
    }),
  }),
]);

const recipeSchema = z.strictObject({
  name: z.enum(RUNTIME_NAMES),
  description: z.string(),
  base: z.enum(RUNTIME_NAMES).optional(),
  layers: z.array(layerSchema).min(1),
  config: z.strictObject({
    Env: z.array(z.string()).default([]),
    Entrypoint: z.array(z.string()).optional(),
    Cmd: z.array(z.string()).optional(),
    WorkingDir: z.string().optional(),
  }),
});

export type Recipe = z.infer<typeof recipeSchema>;
export type RecipeLayer = z.infer<typeof layerSchema>;

/** The repository's `runtimes/` folder: $HANGAR_RUNTIMES_DIR, else found upwards from this module. */
export function recipesDir(): string {
  const dir = readSettings().HANGAR_RUNTIMES_DIR;
  if (dir) return dir;
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, 'runtimes', 'base', 'recipe.yaml'))) return join(d, 'runtimes');
    d = dirname(d);
  }
  throw new HangarError('internal', 'cannot find the runtimes/ recipes folder (set HANGAR_RUNTIMES_DIR)');
}

export async function loadRecipe(name: RuntimeName, dir = recipesDir()): Promise<{ recipe: Recipe; text: string; path: string }> {
  const path = join(dir, name, 'recipe.yaml');
  const text = await readFile(path, 'utf8');
  const r = recipeSchema.safeParse(parseYaml(text));
  if (!r.success) throw new HangarError('internal', `${path}: ${r.error.issues[0]?.path.join('.') ?? ''} ${r.error.issues[0]?.message ?? 'invalid'}`);
  if (r.data.name !== name) throw new HangarError('internal', `${path}: name '${r.data.name}' is not '${name}'`);
  return { recipe: r.data, text, path };
}

/** The build cache: $HANGAR_BUILD_CACHE, else $HANGAR_HOME/build (default ~/.hangar/build). */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return readSettings(env).HANGAR_BUILD_CACHE ?? join(hangarHome(env), 'build');
}

// ---- the built image ---------------------------------------------------------------------------------

export interface RuntimeLayer extends FileBlob {
  diffId: string;
  mediaType: string;
}

export interface RuntimeImage {
  name: RuntimeName;
  /** `runtimes/<name>:latest` */
  ref: string;
  /** OCI layout directory holding just this image (tag `latest`). */
  layoutDir: string;
  manifestDigest: string;
  key: string;
  /** Bottom first; `path` points into layoutDir. */
  layers: RuntimeLayer[];
  /** The `config` section of the image config (Env, Cmd, WorkingDir, Labels). */
  config: Record<string, unknown>;
  /** Sum of the layer sizes (uncompressed tars). */
  sizeBytes: number;
  /** True when this call built it (false: it came from the cache). */
  built: boolean;
}

export interface RuntimeOptions {
  cacheDir?: string;
  recipesDir?: string;
  onProgress?: ProgressFn;
}

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

interface CachedInfo {
  name: RuntimeName;
  key: string;
  manifestDigest: string;
  sizeBytes: number;
}

async function readCached(name: RuntimeName, dir: string, key: string): Promise<RuntimeImage | undefined> {
  let info: CachedInfo;
  try {
    info = JSON.parse(await readFile(join(dir, 'image.json'), 'utf8')) as CachedInfo;
  } catch {
    return undefined;
  }
  if (info.key !== key) return undefined;
  const layoutDir = join(dir, 'layout');
  const [img] = await readOciLayout(layoutDir).catch(() => []);
  if (!img || img.manifest.digest !== info.manifestDigest) return undefined;
  const configDoc = JSON.parse(img.configBytes.toString('utf8')) as { config?: Record<string, unknown> };
  return {
    name,
    ref: runtimeRef(name),
    layoutDir,
    manifestDigest: img.manifest.digest,
    key,
    layers: img.layers.map((l) => ({ path: blobPath(layoutDir, l.digest), digest: l.digest, size: l.size, diffId: l.diffId, mediaType: l.mediaType })),
    config: configDoc.config ?? {},
    sizeBytes: img.sizeBytes,
    built: false,
  };
}

const inflight = new Map<string, Promise<RuntimeImage>>();

/** The cache key of a runtime: its recipe, its base's key, the host files it copies. */
async function runtimeKey(name: RuntimeName, dir: string): Promise<string> {
  const { recipe, text } = await loadRecipe(name, dir);
  const parts = [`builder ${BUILDER_VERSION}`, text];
  if (recipe.base) parts.push(`base ${await runtimeKey(recipe.base, dir)}`);
  for (const l of recipe.layers) for (const f of await hostInputs(l)) parts.push(`${f} ${(await digestFile(f)).digest}`);
  return sha(parts.join('\n')).slice(0, 16);
}

/**
 * The runtime's OCI image, built from its recipe if the cache does not hold the
 * current one. Concurrent calls share one build; a build in another process
 * that finishes first wins (ours is dropped).
 */
export async function ensureRuntime(nameOrRef: string, opts: RuntimeOptions = {}): Promise<RuntimeImage> {
  const { name } = resolveRuntimeName(nameOrRef);
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  const rdir = opts.recipesDir ?? recipesDir();
  const key = await runtimeKey(name, rdir);
  const id = `${cacheDir}\0${name}\0${key}`;
  let p = inflight.get(id);
  if (!p) {
    p = buildRuntime(name, key, cacheDir, rdir, opts.onProgress ?? noProgress).finally(() => inflight.delete(id));
    inflight.set(id, p);
  }
  return p;
}

async function buildRuntime(name: RuntimeName, key: string, cacheDir: string, rdir: string, progress: ProgressFn): Promise<RuntimeImage> {
  const home = join(cacheDir, 'runtimes', name);
  const dir = join(home, key);
  const cached = await readCached(name, dir, key);
  if (cached) return cached;

  const { recipe } = await loadRecipe(name, rdir);
  const base = recipe.base ? await ensureRuntime(recipe.base, { cacheDir, recipesDir: rdir, onProgress: progress }) : undefined;
  const started = Date.now();
  progress({ phase: 'runtime', message: `building runtime ${name} (${recipe.description})` });
  await mkdir(home, { recursive: true });
  const work = await tempDir(home, 'build');
  try {
    const layers: OciFileLayerInput[] = (base?.layers ?? []).map((l) => ({ file: l.path, digest: l.digest, size: l.size, diffId: l.diffId, mediaType: l.mediaType }));
    for (const [i, l] of recipe.layers.entries()) {
      const blob = await buildLayer(name, l, work, join(work, `layer-${i}.tar`), progress);
      layers.push({ file: blob.path, digest: blob.digest, size: blob.size, diffId: blob.digest, mediaType: MT.ociLayer });
    }
    const config: Record<string, unknown> = {
      Env: recipe.config.Env,
      ...(recipe.config.Entrypoint ? { Entrypoint: recipe.config.Entrypoint } : {}),
      ...(recipe.config.Cmd ? { Cmd: recipe.config.Cmd } : {}),
      WorkingDir: recipe.config.WorkingDir ?? '/',
      Labels: { 'dev.hangar.runtime': name, 'dev.hangar.runtime.key': key },
    };
    const img = buildOciImage({
      layers,
      config,
      created: createdAt(defaultCreated()),
      manifestAnnotations: { 'org.opencontainers.image.title': runtimeRef(name), 'org.opencontainers.image.description': recipe.description },
      refName: 'latest',
      indexAnnotations: { 'io.containerd.image.name': runtimeRef(name) },
    });
    const staged = join(work, 'out');
    await writeOciLayout(img, join(staged, 'layout'));
    const sizeBytes = layers.reduce((n, l) => n + l.size, 0);
    const info: CachedInfo = { name, key, manifestDigest: img.manifestDigest, sizeBytes };
    await writeFile(join(staged, 'image.json'), `${JSON.stringify(info, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(staged, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
    // Older builds of this runtime (other keys) are no longer reachable.
    for (const other of await readdir(home)) {
      if (other !== key && /^[0-9a-f]{16}$/.test(other)) await rm(join(home, other), { recursive: true, force: true });
    }
    const done = await readCached(name, dir, key);
    if (!done) throw new HangarError('internal', `runtime ${name}: the cached image at ${dir} is unreadable`);
    progress({ phase: 'runtime', message: `runtime ${name}: ${(done.sizeBytes / 2 ** 20).toFixed(1)} MiB in ${((Date.now() - started) / 1000).toFixed(1)} s` });
    return { ...done, built: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Path of an OCI layout holding `runtimes/<name>:latest` (built on first use), e.g. for the CLI to push. */
export async function runtimeLayout(name: string, opts: RuntimeOptions = {}): Promise<string> {
  return (await ensureRuntime(name, opts)).layoutDir;
}
