/**
 * `buildProject(dir)`: a project folder (Kraftfile + Dockerfile + app) → an OCI
 * image layout the node can import and run (ukc-workflows.md §2.3, adapted to
 * sandboxes: the runtime is the base of the image instead of a kernel).
 *
 * 1. Read the Kraftfile (or, without one, use the folder's Dockerfile).
 * 2. `runtime:` → the catalog runtime image (built and cached on first use).
 * 3. `rootfs:` → a Dockerfile built by buildah on private storage, offline
 *    (every FROM must be scratch, a stage, `runtimes/<name>` or an image in the
 *    node's loopback registry); a folder or a tarball becomes one layer as is.
 * 4. Layers = runtime layers + the build's own layers (a build `FROM
 *    runtimes/<name>` already starts with them), or the hangar skeleton +
 *    the build's layers without a runtime.
 * 5. Config = runtime ← Dockerfile ← Kraftfile (image-config.ts).
 * 6. Written by pkg.ts as an OCI layout (plus the EROFS/CPIO rootfs package
 *    with a rootfs type, and an oci-archive when asked).
 *
 * A Kraftfile with only `roms:` makes a ROM package. Temp files, working
 * containers and the built image in buildah's storage are removed whatever
 * happens; buildah's storage keeps only the runtimes it loaded (a cache).
 */
import { createHash } from 'node:crypto';
import { copyFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { openDecompressed } from '../image/decompress.js';
import { digestFile, digestStream } from '../lib/digest.js';
import { blobPath, readOciLayout } from '../image/oci-layout.js';
import type { OciFileLayerInput } from '../image/oci-writer.js';
import { MT } from '../oci/media-types.js';
import { HangarError, invalid } from '../lib/errors.js';
import { Buildah, type RegistryAuth } from './buildah.js';
import { scanFroms, dockerfileError, type FromLine } from './dockerfile.js';
import { noProgress, type ProgressFn } from './events.js';
import { finalConfig, type OciConfig } from './image-config.js';
import { kraftfileError, loadKraftfile, parseKraftfile, type FsSpec, type Kraftfile, type RootfsFormat } from './kraftfile.js';
import { tarDirectory } from './layer.js';
import { checkPackageFormat, defaultCreated, defaultOutDir, defaultTimestamp, emitImage, emitRomPackage, parseImageName, type EmittedImage, type RomLayer } from './pkg.js';
import { defaultCacheDir, ensureRuntime, resolveRuntimeName, runtimeRef, type RuntimeImage, type RuntimeName } from './base-images.js';
import { skeletonLayer } from './skeleton.js';
import { removeStaleTemps, tempDir } from './tmp.js';

export interface BuildOptions {
  /** Build cache: runtimes, buildah's storage, default outputs (default $HANGAR_HOME/build). */
  cacheDir?: string;
  /** Where to write the OCI layout (default `<cacheDir>/out/<name>/<tag>`). */
  outDir?: string;
  /** Image name `name[:tag]`, overriding the Kraftfile's `name` and the folder name. */
  name?: string;
  /** `--as`: only `oci`. */
  as?: string;
  /** Also pack the rootfs as EROFS or CPIO (a kraftcloud/x86_64 manifest beside linux/amd64); default: the Kraftfile's `rootfs.format`, if any. */
  rootfsType?: RootfsFormat;
  /** Also write an oci-archive tarball here. */
  archive?: string;
  /** The node's registry: `FROM runtimes/<name>` is pulled from `<address>/runtimes/<name>:latest` when it is there. */
  registry?: RegistryAuth;
  buildArgs?: Record<string, string>;
  /** A Kraftfile other than the folder's own (`-K`). */
  kraftfile?: string;
  /** Seconds since the epoch for the layers' file times (default $SOURCE_DATE_EPOCH, else 2024-01-01): same inputs, same layers. */
  timestamp?: number;
  /** Seconds since the epoch the image says it was created (default $SOURCE_DATE_EPOCH, else now). */
  created?: number;
  onProgress?: ProgressFn;
}

export interface BuildResult extends EmittedImage {
  /** `python-http:latest`, or the `--name` given. */
  ref: string;
  name: string;
  tag: string;
  kind: 'image' | 'rom';
  /** `runtimes/<name>:latest` when the image sits on a runtime. */
  runtime?: string;
  /** The runnable config (Entrypoint, Cmd, Env, WorkingDir, …). */
  config: OciConfig;
  layers: number;
  roms?: RomLayer[];
  /** Things the user may want to know (e.g. a runtime tag that was mapped). */
  notes: string[];
  durationMs: number;
}

interface Project {
  dir: string;
  kraftfile?: Kraftfile;
  /** What the rootfs is made from. */
  rootfs?: { type: 'dockerfile'; dockerfile: string; context: string } | { type: 'dir'; path: string } | { type: 'tarball'; path: string };
}

async function kindOf(p: string): Promise<'file' | 'dir' | undefined> {
  const st = await stat(p).catch(() => undefined);
  return st?.isDirectory() ? 'dir' : st?.isFile() ? 'file' : undefined;
}

const sanitizeName = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '') || 'app';

async function resolveRootfs(dir: string, fs: FsSpec): Promise<NonNullable<Project['rootfs']>> {
  const p = resolve(dir, fs.source.path);
  const kind = await kindOf(p);
  if (fs.source.type === 'dockerfile') {
    if (fs.source.dockerfile !== undefined) {
      const dockerfile = resolve(dir, fs.source.dockerfile);
      if ((await kindOf(dockerfile)) !== 'file') throw kraftfileError(`rootfs: Dockerfile '${fs.source.dockerfile}' does not exist (fix rootfs.source.dockerfile)`);
      if (kind !== 'dir') throw kraftfileError(`rootfs: build context '${fs.source.path}' is not a folder${fs.source.path.includes('build/bin') ? ' (run make build/bin/hello first)' : ' (fix rootfs.source.path)'}`);
      return { type: 'dockerfile', dockerfile, context: p };
    }
    if (kind === 'dir') {
      const dockerfile = join(p, 'Dockerfile');
      if ((await kindOf(dockerfile)) !== 'file') throw kraftfileError(`rootfs: folder '${fs.source.path}' has no Dockerfile (add one or point rootfs at it)`);
      return { type: 'dockerfile', dockerfile, context: p };
    }
    if (kind !== 'file') throw kraftfileError(`rootfs: '${fs.source.path}' does not exist (create the Dockerfile or fix the path)`);
    return { type: 'dockerfile', dockerfile: p, context: dirname(p) };
  }
  if (fs.source.type === 'dir') {
    if (kind !== 'dir') throw kraftfileError(`rootfs: '${fs.source.path}' is not a folder (fix the path, or name a Dockerfile)`);
    return { type: 'dir', path: p };
  }
  if (kind !== 'file') throw kraftfileError(`rootfs: tarball '${fs.source.path}' does not exist (fix the path)`);
  if (!/\.(tar|tar\.gz|tgz)$/.test(p)) throw kraftfileError(`rootfs: '${fs.source.path}': only .tar, .tar.gz and .tgz tarballs are supported (repack it)`);
  return { type: 'tarball', path: p };
}

async function loadProject(input: string, kraftfilePath: string | undefined): Promise<Project> {
  const abs = resolve(input);
  const kind = await kindOf(abs);
  if (kind === undefined) throw invalid('path', `'${input}' does not exist`);
  if (kind === 'file') {
    // `hangar build path/to/Dockerfile`: the Dockerfile alone, its folder as context.
    return { dir: dirname(abs), rootfs: { type: 'dockerfile', dockerfile: abs, context: dirname(abs) } };
  }
  let kf: Kraftfile | undefined;
  if (kraftfilePath) {
    const text = await readFile(resolve(kraftfilePath), 'utf8').catch(() => {
      throw invalid('kraftfile', `Kraftfile '${kraftfilePath}' does not exist`);
    });
    kf = parseKraftfile(text);
  } else {
    kf = (await loadKraftfile(abs))?.kraftfile;
  }
  if (!kf) {
    if ((await kindOf(join(abs, 'Dockerfile'))) === 'file') return { dir: abs, rootfs: { type: 'dockerfile', dockerfile: join(abs, 'Dockerfile'), context: abs } };
    throw invalid('path', `'${input}' has no Kraftfile and no Dockerfile (add a Kraftfile with 'spec: v0.7', 'runtime: base' and 'rootfs: ./Dockerfile')`);
  }
  const p: Project = { dir: abs, kraftfile: kf };
  if (kf.rootfs) p.rootfs = await resolveRootfs(abs, kf.rootfs);
  if (kf.roms.length > 0 && (kf.rootfs || kf.runtime)) {
    throw kraftfileError("key 'roms' next to 'runtime'/'rootfs' is not supported by hangar (put the ROM in its own folder with a Kraftfile of only spec, targets and roms, and attach it with --rom)");
  }
  return p;
}

/** The digest of the skeleton layer (computed once). */
let skeletonDigest: string | undefined;
const skeletonId = (): string => (skeletonDigest ??= `sha256:${createHash('sha256').update(skeletonLayer()).digest('hex')}`);

const fileLayer = (l: { path: string; digest: string; size: number; diffId: string; mediaType: string }): OciFileLayerInput => ({
  file: l.path,
  digest: l.digest,
  size: l.size,
  diffId: l.diffId,
  mediaType: l.mediaType,
});

interface Built {
  layers: OciFileLayerInput[];
  config: OciConfig;
}

/** Loads the runtime a FROM names into buildah's storage: from the node's registry when there, else from the catalog. */
async function provideRuntime(b: Buildah, runtime: RuntimeName, o: BuildOptions & { cacheDir: string }, progress: ProgressFn, notes: string[]): Promise<void> {
  const local = `localhost/runtimes/${runtime}:latest`;
  if (o.registry) {
    const remote = `${o.registry.address}/runtimes/${runtime}:latest`;
    try {
      progress({ phase: 'runtime', message: `pulling ${remote} from the node's registry` });
      await b.pull(remote, o.registry, local);
      return;
    } catch (e) {
      notes.push(`${remote} is not in the node's registry (${(e as Error).message}); used the locally built runtime`);
    }
  }
  const rt = await ensureRuntime(runtime, { cacheDir: o.cacheDir, onProgress: progress });
  const marker = join(b.dir, `loaded-${runtime}`);
  const have = await readFile(marker, 'utf8').catch(() => '');
  const id = await b.imageId(local);
  if (!id || have !== `${rt.manifestDigest} ${id}`) {
    progress({ phase: 'runtime', message: `loading ${runtimeRef(runtime)} into the build storage` });
    await b.removeImage(local);
    await b.importOci(rt.layoutDir, 'latest', local);
    await writeFile(marker, `${rt.manifestDigest} ${(await b.imageId(local)) ?? ''}`);
  }
}

async function buildDockerfile(
  rootfs: { dockerfile: string; context: string },
  o: BuildOptions & { cacheDir: string; timestamp: number },
  work: string,
  progress: ProgressFn,
  notes: string[],
): Promise<Built> {
  const text = await readFile(rootfs.dockerfile, 'utf8');
  const froms: FromLine[] = scanFroms(text, o.buildArgs);
  const b = new Buildah(join(o.cacheDir, 'buildah'));
  await b.init();
  // Base images pulled by their registry name are dropped after the build; runtimes stay (a cache).
  const pulled: string[] = [];
  try {
    for (const f of froms) {
      if (f.base.kind === 'runtime') await provideRuntime(b, f.base.runtime, o, progress, notes);
      if (f.base.kind === 'registry') {
        const auth = o.registry && f.image.startsWith(`${o.registry.address}/`) ? o.registry : undefined;
        try {
          progress({ phase: 'runtime', message: `pulling ${f.image}` });
          pulled.push(f.image);
          await b.pull(f.image, auth);
        } catch (e) {
          if (!f.base.runtime) throw dockerfileError(f.line, `FROM ${f.image}: ${(e as Error).message} (push the image to the node's registry first)`);
          notes.push(`${f.image} could not be pulled; used the locally built runtime`);
          await provideRuntime(b, f.base.runtime, { ...o, registry: undefined }, progress, notes);
          const id = await b.imageId(`localhost/runtimes/${f.base.runtime}:latest`);
          if (id) await b.tag(id, f.image);
        }
      }
    }
    progress({ phase: 'dockerfile', message: `buildah bud ${rootfs.dockerfile}` });
    let iid: string | undefined;
    try {
      iid = await b.bud({
        dockerfile: rootfs.dockerfile,
        context: rootfs.context,
        timestamp: o.timestamp,
        ...(o.buildArgs ? { buildArgs: o.buildArgs } : {}),
        onLine: (line) => {
          const m = /^(?:\[\d+\/\d+\] )?STEP (\d+)\/(\d+): /.exec(line);
          progress(m ? { phase: 'dockerfile', message: line, current: Number(m[1]), total: Number(m[2]) } : { phase: 'dockerfile', message: line });
        },
      });
    } catch (e) {
      if (e instanceof HangarError && e.field === 'Dockerfile') throw dockerfileError(undefined, `${e.message} (fix the Dockerfile and build again)`);
      throw e;
    }
    try {
      progress({ phase: 'export', message: 'exporting the built image' });
      const out = join(work, 'built');
      await b.exportOci(iid, out);
      const [img] = await readOciLayout(out);
      if (!img) throw new HangarError('internal', 'buildah produced no image');
      const config = (JSON.parse(img.configBytes.toString('utf8')) as { config?: OciConfig }).config ?? {};
      return { layers: img.layers.map((l) => fileLayer({ ...l, path: blobPath(out, l.digest) })), config };
    } finally {
      await b.removeImage(iid);
    }
  } finally {
    for (const name of pulled) await b.untag(name);
  }
}

async function tarballLayer(path: string, work: string): Promise<OciFileLayerInput> {
  const gz = /\.(tar\.gz|tgz)$/.test(path);
  const file = join(work, 'rootfs-layer');
  await copyFile(path, file);
  const { digest, size } = await digestFile(file);
  const diffId = gz ? (await digestStream(openDecompressed(file, 'gzip'))).digest : digest;
  return { file, digest, size, diffId, mediaType: gz ? MT.ociLayerGzip : MT.ociLayer };
}

/**
 * Builds a project folder (or a Dockerfile) into an OCI image layout.
 * Errors are HangarErrors with one line naming the problem and the fix
 * (`Kraftfile: …`, `Dockerfile:3: …`, `runtime 'x' is not in hangar's catalog …`).
 */
export async function buildProject(dir: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const started = Date.now();
  checkPackageFormat(opts.as);
  const progress = opts.onProgress ?? noProgress;
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  const timestamp = opts.timestamp ?? defaultTimestamp();
  const created = opts.created ?? defaultCreated();
  const notes: string[] = [];
  progress({ phase: 'kraftfile', message: `reading ${dir}` });
  const project = await loadProject(dir, opts.kraftfile);
  const kf = project.kraftfile;
  const named = parseImageName(opts.name ?? kf?.name ?? sanitizeName(basename(project.dir)));
  const outDir = resolve(opts.outDir ?? defaultOutDir(cacheDir, named.name, named.tag));
  const rootfsType = opts.rootfsType ?? kf?.rootfs?.format;

  let runtime: RuntimeImage | undefined;
  if (kf?.runtime) {
    const r = resolveRuntimeName(kf.runtime);
    if (r.note) notes.push(r.note);
    runtime = await ensureRuntime(r.name, { cacheDir, onProgress: progress });
  }

  await removeStaleTemps(cacheDir);
  const work = await tempDir(cacheDir, 'build');
  try {
    if (kf && !kf.runtime && !kf.rootfs) {
      const r = await emitRomPackage(
        kf.roms.map((rom) => ({ path: resolve(project.dir, rom.source.path), ...(rom.format ? { format: rom.format } : {}) })),
        { ref: named.ref, tag: named.tag, outDir, ...(opts.archive ? { archive: opts.archive } : {}), targets: kf.targets, created, workDir: work, onProgress: progress },
      );
      progress({ phase: 'done', message: `${named.ref}: ROM package with ${r.roms.length} ROM(s) in ${outDir}` });
      return { ...r, ref: named.ref, name: named.name, tag: named.tag, kind: 'rom', config: {}, layers: r.roms.length, notes, durationMs: Date.now() - started };
    }

    let built: Built = { layers: [], config: {} };
    const rf = project.rootfs;
    if (rf?.type === 'dockerfile') built = await buildDockerfile(rf, { ...opts, cacheDir, timestamp }, work, progress, notes);
    else if (rf?.type === 'dir') {
      progress({ phase: 'assemble', message: `packing folder ${rf.path} as a layer` });
      const blob = await tarDirectory(rf.path, join(work, 'rootfs-layer'), { mtime: new Date(timestamp * 1000) });
      built.layers = [{ file: blob.path, digest: blob.digest, size: blob.size, diffId: blob.digest, mediaType: MT.ociLayer }];
    } else if (rf?.type === 'tarball') built.layers = [await tarballLayer(rf.path, work)];

    progress({ phase: 'assemble', message: 'assembling the image' });
    let layers: OciFileLayerInput[];
    let runtimeConfig: OciConfig | undefined;
    if (runtime) {
      const rtLayers = runtime.layers.map(fileLayer);
      const included = rtLayers.every((l, i) => built.layers[i]?.diffId === l.diffId);
      layers = included ? [...rtLayers, ...built.layers.slice(rtLayers.length)] : [...rtLayers, ...built.layers];
      runtimeConfig = included ? undefined : runtime.config;
    } else if (built.layers[0]?.diffId === skeletonId()) {
      layers = built.layers;
    } else {
      const skel = join(work, 'skeleton.tar');
      await writeFile(skel, skeletonLayer());
      const { size } = await stat(skel);
      layers = [{ file: skel, digest: skeletonId(), size, diffId: skeletonId(), mediaType: MT.ociLayer }, ...built.layers];
    }
    const config = finalConfig(runtimeConfig, built.config, { ...(kf?.cmd ? { cmd: kf.cmd } : {}), env: kf?.env ?? [], labels: kf?.labels ?? {} });
    if (!config['Entrypoint'] && !config['Cmd']) {
      throw invalid('cmd', `${named.ref} has nothing to run (set cmd in the Kraftfile, e.g. cmd: ["/server"], or CMD in the Dockerfile)`);
    }
    const emitted = await emitImage(layers, config, {
      ref: named.ref,
      tag: named.tag,
      outDir,
      ...(opts.archive ? { archive: opts.archive } : {}),
      ...(rootfsType ? { rootfsType } : {}),
      created,
      workDir: work,
      onProgress: progress,
    });
    const durationMs = Date.now() - started;
    progress({ phase: 'done', message: `${named.ref}: ${layers.length} layers, ${(emitted.sizeBytes / 2 ** 20).toFixed(1)} MiB in ${(durationMs / 1000).toFixed(1)} s` });
    return {
      ...emitted,
      ref: named.ref,
      name: named.name,
      tag: named.tag,
      kind: 'image',
      ...(runtime ? { runtime: runtime.ref } : {}),
      config,
      layers: layers.length,
      notes,
      durationMs,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
