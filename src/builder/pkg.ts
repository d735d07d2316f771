/**
 * Packaging: turning layers + config, an existing OCI layout, or ROM folders
 * into the OCI layout the node imports and the registry stores
 * (ukc-workflows.md §4). `--as oci` is the only format.
 *
 * - An app image is a plain linux/amd64 OCI image (uncompressed tar layers; the
 *   node unpacks them into a rootfs). With a rootfs type (`erofs`|`cpio`) the
 *   layout also holds a `kraftcloud/x86_64` manifest for Unikraft-style
 *   consumers: the whole rootfs packed as one filesystem image in the initrd
 *   layer (an uncompressed tar holding `unikraft/bin/initrd`, annotated
 *   `org.unikraft.kernel.initrd`), no kernel layer (a rootfs for the platform's
 *   kernel). Both sit behind one nested index; the node picks linux/amd64.
 * - A ROM package has no kernel and no rootfs: one raw layer per ROM, media type
 *   `application/vnd.unikraft.rom.v1`, EROFS (default) or CPIO padded to 4096.
 */
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { create as tarCreate } from 'tar';
import { digestFile } from '../lib/digest.js';
import { blobPath, readOciLayout } from '../image/oci-layout.js';
import { buildOciImage, combineOciImages, writeOciLayout, type BuiltOciImage, type OciFileLayerInput, type OciPlatform } from '../image/oci-writer.js';
import { MT } from '../oci/media-types.js';
import { parseReference, repositoryName } from '../oci/reference.js';
import { FIXED_MTIME } from '../image/tar-writer.js';
import { createdAt, defaultCreated } from './times.js';
import { UNIKRAFT } from '../image/unikraft.js';
import { HangarError, invalid } from '../lib/errors.js';
import { noProgress, type ProgressFn } from './events.js';
import { detectFsFormatOfFile, packDirectory, packLayers, padFile } from './fs-image.js';
import type { OciConfig } from './image-config.js';
import type { RootfsFormat, Target } from './kraftfile.js';
import { TarFileWriter } from './layer.js';
import { defaultCacheDir } from './base-images.js';
import { tempDir } from './tmp.js';

export const PACKAGE_FORMATS = ['oci'] as const;
const ANNOTATION_CREATED = 'org.opencontainers.image.created';
const ANNOTATION_TITLE = 'org.opencontainers.image.title';
const ANNOTATION_NAME = 'io.containerd.image.name';

export const LINUX_AMD64: OciPlatform = { os: 'linux', architecture: 'amd64' };
export const KRAFTCLOUD_X86_64: OciPlatform = { os: 'kraftcloud', architecture: 'x86_64' };

/** `--as`: only `oci` is supported. */
export function checkPackageFormat(as: string | undefined): void {
  if (as !== undefined && as !== 'oci') throw invalid('as', `packaging format '${as}' is not supported by hangar (use --as oci)`);
}

/** `name[:tag]` → its parts, validated (a registry host is allowed: `127.0.0.1:5000/app:v1`). */
export function parseImageName(name: string, field = 'name'): { name: string; tag: string; ref: string } {
  const r = parseReference(name, field);
  if (r.digest) throw invalid(field, `'${name}': give a tag, not a digest`);
  const repo = repositoryName(r);
  const tag = r.tag ?? 'latest';
  return { name: repo, tag, ref: `${repo}:${tag}` };
}

export { createdAt } from './times.js';

export interface EmitOptions {
  /** Full name and tag: `app:latest`, `127.0.0.1:5000/team/app:v2`. */
  ref: string;
  tag: string;
  outDir: string;
  /** Also write an oci-archive tarball here. */
  archive?: string;
  rootfsType?: RootfsFormat;
  /** Seconds since the epoch the image says it was created (config `created`, annotation); layer contents do not depend on it. */
  created: number;
  /** Scratch space on the same filesystem as the inputs. */
  workDir: string;
  onProgress?: ProgressFn;
}

export interface EmittedImage {
  layoutDir: string;
  archive?: string;
  manifestDigest: string;
  /** Set when the layout holds several platforms behind a nested index. */
  indexDigest?: string;
  configDigest: string;
  sizeBytes: number;
  rootfs?: { format: RootfsFormat; digest: string; size: number };
}

/** Moves `staged` to `outDir`, replacing what was there. */
async function publish(staged: string, outDir: string): Promise<void> {
  await mkdir(dirname(outDir), { recursive: true });
  const old = `${outDir}.old-${process.pid}`;
  await rm(old, { recursive: true, force: true });
  await rename(outDir, old).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  await rename(staged, outDir);
  await rm(old, { recursive: true, force: true });
}

/** An oci-archive (a tar of the layout: oci-layout, index.json, then the blobs in digest order; fixed mtimes). */
export async function writeLayoutArchive(layoutDir: string, archive: string): Promise<void> {
  const blobs = (await readdir(join(layoutDir, 'blobs', 'sha256'))).sort().map((b) => `blobs/sha256/${b}`);
  await mkdir(dirname(archive), { recursive: true });
  const tmp = `${archive}.tmp-${process.pid}`;
  try {
    await tarCreate({ file: tmp, cwd: layoutDir, portable: true, mtime: FIXED_MTIME, noDirRecurse: true }, ['oci-layout', 'index.json', 'blobs/', 'blobs/sha256/', ...blobs]);
    await rename(tmp, archive);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Writes the layout (and the archive), replacing `o.outDir`; returns what every result reports. */
async function writeBuilt(img: BuiltOciImage, o: Pick<EmitOptions, 'outDir' | 'archive' | 'workDir' | 'onProgress'>, sizeBytes: number): Promise<EmittedImage> {
  const staged = join(o.workDir, 'layout');
  await rm(staged, { recursive: true, force: true });
  await writeOciLayout(img, staged);
  const layoutDir = resolve(o.outDir);
  (o.onProgress ?? noProgress)({ phase: 'write', message: `writing OCI layout ${layoutDir}` });
  await publish(staged, layoutDir);
  if (o.archive) await writeLayoutArchive(layoutDir, resolve(o.archive));
  return { layoutDir, ...(o.archive ? { archive: resolve(o.archive) } : {}), manifestDigest: img.manifestDigest, configDigest: img.configDigest, sizeBytes };
}

/**
 * Writes an app image: the linux/amd64 image of `layers` + `config`, plus, with
 * a rootfs type, the kraftcloud/x86_64 rootfs package behind a nested index.
 */
export async function emitImage(layers: readonly OciFileLayerInput[], config: OciConfig, o: EmitOptions): Promise<EmittedImage> {
  const created = createdAt(o.created);
  const manifestAnnotations = { [ANNOTATION_CREATED]: created, [ANNOTATION_TITLE]: o.ref };
  const linux = buildOciImage({ layers: [...layers], config, created, manifestAnnotations, refName: o.tag, indexAnnotations: { [ANNOTATION_NAME]: o.ref }, ...(o.rootfsType ? { platform: LINUX_AMD64 } : {}) });
  const sizeBytes = layers.reduce((n, l) => n + l.size, 0);
  if (!o.rootfsType) return writeBuilt(linux, o, sizeBytes);
  (o.onProgress ?? noProgress)({ phase: 'pack', message: `packing the rootfs as ${o.rootfsType}` });
  const fsImage = await packLayers(layers.map((l) => ({ path: l.file, diffId: l.diffId })), o.rootfsType, join(o.workDir, `rootfs.${o.rootfsType}`), o.workDir);
  const w = new TarFileWriter(join(o.workDir, 'initrd-layer.tar'));
  await w.add({ path: UNIKRAFT.initrdPath.slice(1), type: 'file', mode: 0o644, data: await readFile(fsImage.path) });
  const initrdLayer = await w.finish();
  await rm(fsImage.path, { force: true });
  const argv = [...((config['Entrypoint'] as string[] | undefined) ?? []), ...((config['Cmd'] as string[] | undefined) ?? [])];
  const ukConfig: OciConfig = { Cmd: argv, ...(config['Env'] ? { Env: config['Env'] } : {}), ...(config['WorkingDir'] ? { WorkingDir: config['WorkingDir'] } : {}) };
  const uk = buildOciImage({
    layers: [
      {
        file: initrdLayer.path,
        digest: initrdLayer.digest,
        size: initrdLayer.size,
        diffId: initrdLayer.digest,
        mediaType: MT.ociLayer,
        annotations: { [UNIKRAFT.annotations.initrd]: UNIKRAFT.initrdPath, [UNIKRAFT.annotations.filesystem]: o.rootfsType },
      },
    ],
    config: ukConfig,
    created,
    platform: KRAFTCLOUD_X86_64,
    manifestAnnotations: { ...manifestAnnotations, [UNIKRAFT.annotations.imageName]: o.ref },
  });
  const both = combineOciImages([linux, uk], { refName: o.tag, indexAnnotations: { [ANNOTATION_NAME]: o.ref } });
  // combineOciImages reports the first (linux/amd64) image's manifest and config digests.
  return { ...(await writeBuilt(both, o, sizeBytes)), indexDigest: both.indexDigest, rootfs: { format: o.rootfsType, digest: fsImage.digest, size: fsImage.size } };
}

// ---- ROM packages ---------------------------------------------------------------------------------

export interface RomInput {
  /** A folder to pack, or an existing .erofs/.cpio image. */
  path: string;
  /** Format for a folder; for a file it must match what the file is. */
  format?: RootfsFormat;
}

export interface RomLayer {
  name: string;
  format: RootfsFormat;
  digest: string;
  size: number;
}

/** Packs one ROM into `outFile`, padded to 4096 bytes. */
export async function packRom(rom: RomInput, outFile: string): Promise<RomLayer> {
  const src = resolve(rom.path);
  let st;
  try {
    st = await stat(src);
  } catch {
    throw invalid('roms', `ROM source '${rom.path}' does not exist (create the folder or fix the path)`);
  }
  const name = basename(src);
  if (st.isDirectory()) {
    const format = rom.format ?? 'erofs';
    const b = await packDirectory(src, format, outFile);
    return { name, format, digest: b.digest, size: b.size };
  }
  if (!st.isFile()) throw invalid('roms', `ROM source '${rom.path}' is neither a folder nor a file`);
  const found = await detectFsFormatOfFile(src);
  if (!found) throw invalid('roms', `ROM file '${rom.path}' is neither EROFS nor CPIO (give a folder to pack instead)`);
  if (rom.format && rom.format !== found) throw invalid('roms', `ROM file '${rom.path}' is ${found}, not ${rom.format} (fix the format or the file)`);
  await copyFile(src, outFile);
  await padFile(outFile);
  const d = await digestFile(outFile);
  return { name, format: found, digest: d.digest, size: d.size };
}

export interface RomPackageOptions {
  ref: string;
  tag: string;
  outDir: string;
  archive?: string;
  targets?: readonly Target[];
  /** Seconds since the epoch the package says it was created (default: `defaultCreated()`); the ROM layers do not depend on it. */
  created?: number;
  /** The name `created` had before build time and file times were told apart; kept for callers that still use it. */
  timestamp?: number;
  workDir: string;
  onProgress?: ProgressFn;
}

/** A ROM-only package: one raw `application/vnd.unikraft.rom.v1` layer per ROM, no kernel, no rootfs. */
export async function emitRomPackage(roms: readonly RomInput[], o: RomPackageOptions): Promise<EmittedImage & { roms: RomLayer[] }> {
  if (roms.length === 0) throw invalid('roms', 'no ROMs to package (give at least one folder)');
  const targets = o.targets && o.targets.length > 0 ? o.targets : [{ platform: KRAFTCLOUD_X86_64.os, architecture: KRAFTCLOUD_X86_64.architecture }];
  if (targets.length > 1) throw invalid('targets', 'a ROM package is built for one target here (keep one, e.g. kraftcloud/x86_64)');
  const target = targets[0]!;
  const packed: RomLayer[] = [];
  const layers: OciFileLayerInput[] = [];
  for (const [i, rom] of roms.entries()) {
    (o.onProgress ?? noProgress)({ phase: 'pack', message: `packing ROM ${rom.path} as ${rom.format ?? 'erofs'}`, current: i + 1, total: roms.length });
    const file = join(o.workDir, `rom-${i}`);
    const r = await packRom(rom, file);
    packed.push(r);
    layers.push({
      file,
      digest: r.digest,
      size: r.size,
      diffId: r.digest,
      mediaType: UNIKRAFT.romMediaType,
      annotations: { [ANNOTATION_TITLE]: r.name, [UNIKRAFT.annotations.filesystem]: r.format },
    });
  }
  const created = createdAt(o.created ?? o.timestamp ?? defaultCreated());
  const img = buildOciImage({
    layers,
    config: {},
    created,
    platform: { os: target.platform, architecture: target.architecture },
    manifestAnnotations: { [ANNOTATION_CREATED]: created, [ANNOTATION_TITLE]: o.ref, [UNIKRAFT.annotations.imageName]: o.ref },
    refName: o.tag,
    indexAnnotations: { [ANNOTATION_NAME]: o.ref },
  });
  return { ...(await writeBuilt(img, o, layers.reduce((n, l) => n + l.size, 0))), roms: packed };
}

// ---- pkg ------------------------------------------------------------------------------------------

export interface PkgOptions {
  /** `--as`: only `oci`. */
  as?: string;
  /** `--name`: `name[:tag]`, may carry a registry host. */
  name: string;
  /** Where to write the OCI layout (default `<cacheDir>/out/<name>`). */
  outDir?: string;
  /** Also write an oci-archive tarball. */
  archive?: string;
  /** `--rootfs-type`: with `from`, add the kraftcloud/x86_64 rootfs package. */
  rootfsType?: RootfsFormat;
  /** An OCI layout (e.g. from buildProject) to package again. */
  from?: string;
  /** `--rom`: folders or .erofs/.cpio files; without `from` this makes a ROM-only package. */
  roms?: readonly string[];
  /** `--rom-type` (default erofs). */
  romType?: RootfsFormat;
  targets?: readonly Target[];
  cacheDir?: string;
  /** Seconds since the epoch the package says it was created (default: `defaultCreated()`). */
  created?: number;
  onProgress?: ProgressFn;
}

export interface PkgResult extends EmittedImage {
  ref: string;
  kind: 'image' | 'rom';
  roms?: RomLayer[];
}

export { defaultCreated, defaultTimestamp } from './times.js';

/** Default output folder of an image: `<cacheDir>/out/<name with / → _>/<tag>`. */
export const defaultOutDir = (cacheDir: string, name: string, tag: string): string => join(cacheDir, 'out', name.replace(/[/:]/g, '_'), tag);

/**
 * `hangar pkg`: packages an existing OCI layout (`from`, optionally adding the
 * rootfs as EROFS/CPIO) or ROM folders (`roms`, no `from`) as an OCI layout.
 */
export async function pkg(opts: PkgOptions): Promise<PkgResult> {
  checkPackageFormat(opts.as);
  const { name, tag, ref } = parseImageName(opts.name);
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  const outDir = resolve(opts.outDir ?? defaultOutDir(cacheDir, name, tag));
  const created = opts.created ?? defaultCreated();
  const progress = opts.onProgress ?? noProgress;
  await mkdir(dirname(outDir), { recursive: true });
  const workDir = await tempDir(dirname(outDir), 'pkg');
  try {
    if (!opts.from) {
      if (!opts.roms || opts.roms.length === 0) throw invalid('pkg', 'nothing to package (give an image layout to package, or --rom folders for a ROM package)');
      const r = await emitRomPackage(
        opts.roms.map((p) => ({ path: p, ...(opts.romType ? { format: opts.romType } : {}) })),
        { ref, tag, outDir, ...(opts.archive ? { archive: opts.archive } : {}), ...(opts.targets ? { targets: opts.targets } : {}), created, workDir, onProgress: progress },
      );
      return { ...r, ref, kind: 'rom' };
    }
    if (opts.roms && opts.roms.length > 0) throw invalid('roms', 'ROMs are packaged on their own (run pkg with --rom and no image; attach them with --rom when creating the instance)');
    const [img] = await readOciLayout(resolve(opts.from));
    if (!img) throw new HangarError('invalid_argument', `${opts.from}: the layout has no linux/amd64 image`);
    const layers: OciFileLayerInput[] = img.layers.map((l) => ({ file: blobPath(resolve(opts.from!), l.digest), digest: l.digest, size: l.size, diffId: l.diffId, mediaType: l.mediaType }));
    if (opts.rootfsType && img.layers.some((l) => l.compression !== 'none')) throw invalid('rootfs-type', `${opts.from}: packing a rootfs needs uncompressed layers (build the image with hangar build)`);
    const source = JSON.parse(img.configBytes.toString('utf8')) as { config?: OciConfig; created?: unknown };
    const config = source.config ?? {};
    // Packaging an image again is not a rebuild: it keeps the time the image was built.
    const built = typeof source.created === 'string' ? Date.parse(source.created) : NaN;
    const keep = opts.created ?? (Number.isNaN(built) ? created : Math.floor(built / 1000));
    const r = await emitImage(layers, config, { ref, tag, outDir, ...(opts.archive ? { archive: opts.archive } : {}), ...(opts.rootfsType ? { rootfsType: opts.rootfsType } : {}), created: keep, workDir, onProgress: progress });
    return { ...r, ref, kind: 'image' };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
