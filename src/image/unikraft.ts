/**
 * Image formats beyond plain OCI container images, parsed faithfully so the
 * node can store, list and (once a driver boots kernels) run them.
 *
 * kraftkit / unikraft image-spec (shared/reference/ukc-workflows.md §4.1):
 * - an index with one manifest per platform, `os` = the VMM platform
 *   (`qemu`, `fc`, `xen`, `kraftcloud`) and `architecture` = `x86_64`/`arm64`;
 * - kernel layer: an uncompressed tar (`…layer.v1.tar`) holding one file
 *   `unikraft/bin/kernel`, annotated `org.unikraft.kernel.image`; the debug
 *   kernel the same with `org.unikraft.kernel.imagedbg`;
 * - initrd layer: the same form, `unikraft/bin/initrd`, `org.unikraft.kernel.initrd`;
 * - ROM layers: media type `application/vnd.unikraft.rom.v1`, raw (EROFS,
 *   CPIO or raw bytes), padded to 4096;
 * - config: an OCI image config whose `os.version` is the Unikraft version and
 *   `os.features` the kernel's `CONFIG_*=y` lines.
 * Kinds: a unikernel (kernel [+ initrd] [+ ROMs]), a ROM package (ROM layers
 * only), or an initrd-only package (a rootfs for the platform's kernel).
 *
 * urunc / bunny (§4.2): `com.urunc.unikernel.*` as annotations (manifest,
 * index entry or config labels) or, as a fallback, `/urunc.json` in the rootfs
 * with base64 values; the kernel and initrd are then ordinary files in layers.
 */
import { open } from 'node:fs/promises';
import type { ImageConfig } from '../core/ports/images.js';
import { HangarError } from '../lib/errors.js';
import { openDecompressed } from './decompress.js';
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { parseJsonObject, isObject } from '../oci/descriptor.js';
import { parseImageManifest } from '../oci/manifest.js';
import { CONFIG_TYPES, layerCompression } from '../oci/media-types.js';
import { platformString } from '../oci/platform.js';
import { forEachTarEntry, readEntryData } from './tar-reader.js';

export const UNIKRAFT = {
  kernelMediaType: 'application/vnd.unikraft.kernel.v1',
  initrdMediaType: 'application/vnd.unikraft.initrd.v1',
  romMediaType: 'application/vnd.unikraft.rom.v1',
  kernelPath: '/unikraft/bin/kernel',
  kernelDbgPath: '/unikraft/bin/kernel.dbg',
  initrdPath: '/unikraft/bin/initrd',
  annotations: {
    kernel: 'org.unikraft.kernel.image',
    kernelDbg: 'org.unikraft.kernel.imagedbg',
    initrd: 'org.unikraft.kernel.initrd',
    kernelVersion: 'org.unikraft.kernel.version',
    arch: 'org.unikraft.kernel.arch',
    plat: 'org.unikraft.kernel.plat',
    imageName: 'org.unikraft.image.name',
    filesystem: 'org.unikraft.filesystem',
    kraftkitVersion: 'sh.kraftkit.version',
  },
} as const;

export const URUNC_PREFIX = 'com.urunc.unikernel.';
/** Keys urunc requires (unikernelType, hypervisor, binary, cmdline). */
export const URUNC_REQUIRED = ['unikernelType', 'hypervisor', 'binary', 'cmdline'] as const;

/** The page size ROMs must be padded to. */
export const ROM_ALIGN = 4096;

/** VMM platforms of kraftkit/unikraft images (`os` of the platform). */
export const UNIKRAFT_PLATFORMS: ReadonlySet<string> = new Set(['kraftcloud', 'qemu', 'fc', 'firecracker', 'xen', 'kvm', 'linuxu', 'uk']);

export type ImageKind = 'oci' | 'unikernel' | 'rom' | 'initrd' | 'urunc';
export type RomFormat = 'erofs' | 'cpio' | 'raw';

export interface KernelPart extends Descriptor {
  /** Path of the file inside the layer's tar, from the annotation (e.g. `/unikraft/bin/kernel`). */
  path: string;
}

export interface RomPart extends Descriptor {
  /** `org.opencontainers.image.title` or `org.unikraft.image.name` of the layer, when set. */
  name?: string;
  /** Known after inspectContent(). */
  format?: RomFormat;
  /** Size is a multiple of 4096. */
  aligned: boolean;
}

export interface UruncInfo {
  /** Where the values came from. */
  source: 'annotations' | 'urunc.json';
  /** `com.urunc.unikernel.<key>` → value (decoded), keyed by the short key. */
  values: Record<string, string>;
  /** Required keys that are absent. */
  missing: string[];
}

export interface ImageInfo {
  kind: ImageKind;
  /** `qemu/x86_64`, `linux/amd64` … (os/architecture). */
  platform: string | undefined;
  kernel?: KernelPart;
  kernelDbg?: KernelPart;
  initrd?: KernelPart;
  roms: RomPart[];
  /** Unikraft version (config `os.version`, or the kernel version annotation). */
  osVersion?: string;
  /** Kernel config lines (config `os.features`). */
  osFeatures: string[];
  config: ImageConfig;
  labels: Record<string, string>;
  /** Manifest annotations merged over those of the descriptor that pointed at it. */
  annotations: Record<string, string>;
  urunc?: UruncInfo;
  created?: string;
  configDigest: string;
  layers: Descriptor[];
  /** Sum of layer sizes plus the config. */
  sizeBytes: number;
}

const bad = (msg: string): HangarError => new HangarError('invalid_argument', msg, { field: 'image' });

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function stringMap(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** True for a kraftkit/unikraft platform (`os` is a VMM platform rather than `linux`). */
export const isUnikraftPlatform = (p: { os?: string | undefined } | undefined): boolean => p?.os !== undefined && UNIKRAFT_PLATFORMS.has(p.os);

function uruncFrom(values: Record<string, string>, source: UruncInfo['source']): UruncInfo | undefined {
  const picked: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (k.startsWith(URUNC_PREFIX) && k.length > URUNC_PREFIX.length) picked[k.slice(URUNC_PREFIX.length)] = v;
  if (Object.keys(picked).length === 0) return undefined;
  return { source, values: picked, missing: URUNC_REQUIRED.filter((k) => picked[k] === undefined) };
}

/** urunc's `/urunc.json`: `{"com.urunc.unikernel.binary": "<base64>", …}`. */
export function parseUruncJson(text: string): UruncInfo | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('urunc.json is not valid JSON');
  }
  if (!isObject(doc)) throw bad('urunc.json is not a JSON object');
  const decoded: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (typeof v !== 'string') continue;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) throw bad(`urunc.json: value of '${k}' is not base64`);
    decoded[k] = Buffer.from(v, 'base64').toString('utf8');
  }
  return uruncFrom(decoded, 'urunc.json');
}

/**
 * Classifies one image manifest with its config. `descriptor` is the index entry
 * that led to it (its platform and annotations count too). Only structure is
 * read here; inspectContent() looks inside the blobs.
 */
export function classifyImage(manifestBody: Buffer, configBody: Buffer, descriptor?: { platform?: Platform | undefined; annotations?: Record<string, string> | undefined }): ImageInfo {
  const m = parseImageManifest(manifestBody);
  const configDesc = m.config;
  if (!CONFIG_TYPES.has(configDesc.mediaType)) throw bad(`config mediaType '${configDesc.mediaType.slice(0, 100)}' is not an image config`);
  const layers = m.layers;
  const cfg = parseJsonObject(configBody, 'config');
  const c = isObject(cfg['config']) ? cfg['config'] : {};
  const config: ImageConfig = {
    entrypoint: strings(c['Entrypoint']),
    cmd: strings(c['Cmd']),
    env: strings(c['Env']),
    workingDir: typeof c['WorkingDir'] === 'string' ? c['WorkingDir'] : '',
    user: typeof c['User'] === 'string' ? c['User'] : '',
  };
  const labels = stringMap(c['Labels']);
  const annotations = { ...(descriptor?.annotations ?? {}), ...(m.annotations ?? {}) };

  const platform: Platform | undefined =
    descriptor?.platform ?? (typeof cfg['os'] === 'string' && typeof cfg['architecture'] === 'string' ? { os: cfg['os'], architecture: cfg['architecture'] } : undefined);
  const osVersion = typeof cfg['os.version'] === 'string' ? cfg['os.version'] : (descriptor?.platform?.['os.version'] ?? annotations[UNIKRAFT.annotations.kernelVersion]);
  const osFeatures = strings(cfg['os.features']).length > 0 ? strings(cfg['os.features']) : (descriptor?.platform?.['os.features'] ?? []);

  const A = UNIKRAFT.annotations;
  let kernel: KernelPart | undefined;
  let kernelDbg: KernelPart | undefined;
  let initrd: KernelPart | undefined;
  const roms: RomPart[] = [];
  for (const [i, l] of layers.entries()) {
    const a = l.annotations ?? {};
    if (l.mediaType === UNIKRAFT.romMediaType) {
      const name = a['org.opencontainers.image.title'] ?? a[A.imageName];
      roms.push({ ...l, ...(name !== undefined ? { name } : {}), aligned: l.size % ROM_ALIGN === 0 });
      continue;
    }
    const tarLike = layerCompression(l.mediaType) !== undefined || l.mediaType === UNIKRAFT.kernelMediaType || l.mediaType === UNIKRAFT.initrdMediaType;
    if (!tarLike) throw bad(`layers[${i}]: unknown layer mediaType '${l.mediaType.slice(0, 100)}'`);
    if (a[A.kernel] !== undefined || l.mediaType === UNIKRAFT.kernelMediaType) {
      if (kernel) throw bad(`layers[${i}]: a second kernel layer`);
      kernel = { ...l, path: a[A.kernel] ?? UNIKRAFT.kernelPath };
    } else if (a[A.kernelDbg] !== undefined) {
      kernelDbg = { ...l, path: a[A.kernelDbg] ?? UNIKRAFT.kernelDbgPath };
    } else if (a[A.initrd] !== undefined || l.mediaType === UNIKRAFT.initrdMediaType) {
      if (initrd) throw bad(`layers[${i}]: a second initrd layer`);
      initrd = { ...l, path: a[A.initrd] ?? UNIKRAFT.initrdPath };
    }
  }
  const urunc = uruncFrom({ ...labels, ...annotations }, 'annotations');
  const plain = layers.length - roms.length - (kernel ? 1 : 0) - (kernelDbg ? 1 : 0) - (initrd ? 1 : 0);
  let kind: ImageKind;
  if (kernel) kind = 'unikernel';
  else if (roms.length > 0 && plain === 0 && !initrd) kind = 'rom';
  else if (initrd && plain === 0) kind = 'initrd';
  else if (urunc) kind = 'urunc';
  else if (roms.length > 0 || initrd) throw bad('an image that mixes ROM or initrd layers with container layers and has no kernel');
  else kind = 'oci';
  // No kernel on a VMM platform: a rootfs for the platform's own kernel.
  if (kind === 'oci' && isUnikraftPlatform(platform)) kind = 'initrd';

  const info: ImageInfo = {
    kind,
    platform: platformString(platform),
    roms,
    osFeatures,
    config,
    labels,
    annotations,
    configDigest: configDesc.digest,
    layers,
    sizeBytes: layers.reduce((n, l) => n + l.size, 0) + configDesc.size,
  };
  if (kernel) info.kernel = kernel;
  if (kernelDbg) info.kernelDbg = kernelDbg;
  if (initrd) info.initrd = initrd;
  if (osVersion !== undefined) info.osVersion = osVersion;
  if (urunc) info.urunc = urunc;
  if (typeof cfg['created'] === 'string') info.created = cfg['created'];
  return info;
}

/** True when the image is something only a kernel-booting driver can run (UKC's `initrd_or_rom`). */
export const isKernelOrRomImage = (info: Pick<ImageInfo, 'kind'>): boolean => info.kind !== 'oci';

/** EROFS superblock magic at byte 1024 (little-endian 0xE0F5E1E2); CPIO `070701`/`070702`/`070707`; else raw. */
export function detectRomFormat(head: Buffer): RomFormat {
  if (head.length >= 1028 && head.readUInt32LE(1024) === 0xe0f5e1e2) return 'erofs';
  const magic = head.subarray(0, 6).toString('latin1');
  if (magic === '070701' || magic === '070702' || magic === '070707') return 'cpio';
  return 'raw';
}

export interface ContentReport {
  /** Problems found (an empty list means the layout is as the spec describes). */
  problems: string[];
  urunc?: UruncInfo;
}

/**
 * Looks inside the blobs: the kernel/initrd tars hold their annotated file,
 * ROMs get their format (EROFS/CPIO/raw) and alignment checked, and an image
 * without urunc annotations is searched for `/urunc.json` (layers up to
 * `maxScanBytes` in total). Fills `info.roms[].format` and `info.urunc`.
 */
export async function inspectContent(info: ImageInfo, blobPath: (digest: string) => string, maxScanBytes = 256 * 1024 * 1024): Promise<ContentReport> {
  const problems: string[] = [];
  for (const part of [info.kernel, info.kernelDbg, info.initrd]) {
    if (!part) continue;
    const want = part.path.replace(/^\/+/, '');
    const compression = layerCompression(part.mediaType) ?? 'none';
    let found = false;
    try {
      await forEachTarEntry(openDecompressed(blobPath(part.digest), compression), async (e) => {
        if (e.path.replace(/^\.?\/+/, '') === want && e.type === 'File') found = true;
      });
    } catch (err) {
      problems.push(`layer ${part.digest}: not a readable tar (${(err as Error).message})`);
      continue;
    }
    if (!found) problems.push(`layer ${part.digest}: the tar does not hold ${part.path}`);
  }
  for (const rom of info.roms) {
    const fh = await open(blobPath(rom.digest), 'r');
    try {
      const head = Buffer.alloc(Math.min(rom.size, 4096));
      await fh.read(head, 0, head.length, 0);
      rom.format = detectRomFormat(head);
    } finally {
      await fh.close();
    }
    if (!rom.aligned) problems.push(`ROM ${rom.digest}: ${rom.size} bytes is not a multiple of ${ROM_ALIGN}`);
  }
  const report: ContentReport = { problems };
  if (!info.urunc && (info.kind === 'oci' || info.kind === 'urunc')) {
    const tarLayers = info.layers.filter((l) => layerCompression(l.mediaType) !== undefined);
    if (tarLayers.reduce((n, l) => n + l.size, 0) <= maxScanBytes) {
      let text: string | undefined;
      for (const l of tarLayers) {
        await forEachTarEntry(openDecompressed(blobPath(l.digest), layerCompression(l.mediaType)!), async (e) => {
          if (e.path.replace(/^\.?\/+/, '') === 'urunc.json' && e.type === 'File') text = (await readEntryData(e, 64 * 1024)).toString('utf8');
        }).catch(() => undefined);
      }
      if (text !== undefined) {
        const u = parseUruncJson(text);
        if (u) {
          info.urunc = u;
          report.urunc = u;
          if (info.kind === 'oci') info.kind = 'urunc';
        }
      }
    }
  }
  return report;
}

/** The media types a manifest's layers may have on this node: container layers, unikraft parts, ROMs. */
export const isKnownLayerType = (mediaType: string): boolean =>
  layerCompression(mediaType) !== undefined || mediaType === UNIKRAFT.romMediaType || mediaType === UNIKRAFT.kernelMediaType || mediaType === UNIKRAFT.initrdMediaType;
