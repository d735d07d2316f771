/**
 * Small kraftkit/unikraft/urunc images built in memory for tests: a kernel
 * (an uncompressed tar holding unikraft/bin/kernel), an initrd, ROMs (EROFS
 * from mkfs.erofs, CPIO newc, raw), urunc annotations or /urunc.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { buildOciImage, type BuiltOciImage, type OciImageInput } from '../../../src/image/oci-writer.js';
import { buildTar } from '../../../src/image/tar-writer.js';
import { UNIKRAFT } from '../../../src/image/unikraft.js';
import { sha256 } from '../../../src/lib/digest.js';
import type { LocalRegistry } from '../../../src/registry/ports.js';

export const ROM_TYPE = UNIKRAFT.romMediaType;
const TAR = 'application/vnd.oci.image.layer.v1.tar';

/** Pads to a multiple of 4096 with zeros. */
export const pad4k = (b: Buffer): Buffer => (b.length % 4096 === 0 ? b : Buffer.concat([b, Buffer.alloc(4096 - (b.length % 4096))]));

/** A tar holding one file at `path` (how kraftkit stores a kernel or initrd). */
export const singleFileTar = (path: string, data: Buffer): Buffer => buildTar([{ path: 'unikraft/', type: 'dir' }, { path: 'unikraft/bin/', type: 'dir' }, { path, type: 'file', data }]);

export const kernelLayer = (data: Buffer = Buffer.from('\x7fELF fake unikraft kernel')) => ({
  blob: singleFileTar('unikraft/bin/kernel', data),
  mediaType: TAR,
  annotations: { [UNIKRAFT.annotations.kernel]: UNIKRAFT.kernelPath },
});

export const initrdLayer = (data: Buffer = cpioNewc([{ name: 'app', data: Buffer.from('#!/bin/app\n') }])) => ({
  blob: singleFileTar('unikraft/bin/initrd', data),
  mediaType: TAR,
  annotations: { [UNIKRAFT.annotations.initrd]: UNIKRAFT.initrdPath },
});

export const romLayer = (blob: Buffer, title?: string) => ({
  blob,
  mediaType: ROM_TYPE,
  diffId: sha256(blob),
  ...(title ? { annotations: { 'org.opencontainers.image.title': title } } : {}),
});

/** A CPIO archive in the `newc` format (what `cpio -H newc` writes). */
export function cpioNewc(files: Array<{ name: string; data: Buffer; mode?: number }>): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  const entry = (name: string, data: Buffer, mode: number): void => {
    const hex = (v: number): string => v.toString(16).padStart(8, '0');
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`, 'latin1');
    const nameBuf = Buffer.from(`${name}\0`, 'latin1');
    parts.push(header, nameBuf, pad4(header.length + nameBuf.length), data, pad4(data.length));
  };
  for (const f of files) entry(f.name, f.data, f.mode ?? 0o100644);
  entry('TRAILER!!!', Buffer.alloc(0), 0);
  return Buffer.concat(parts);
}

/** An EROFS image of a directory with the given files, made by mkfs.erofs, padded to 4096. */
export function erofsImage(files: Record<string, string>): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-erofs-'));
  try {
    mkdirSync(join(dir, 'fs'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'fs', name), text);
    execFileSync('mkfs.erofs', ['--quiet', '-T0', join(dir, 'rom.erofs'), join(dir, 'fs')], { stdio: ['ignore', 'ignore', 'pipe'] });
    return pad4k(readFileSync(join(dir, 'rom.erofs')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A kraftkit-style unikernel image for one platform. */
export function unikernelImage(o: { os?: string; arch?: string; roms?: Buffer[]; initrd?: boolean; kernelData?: Buffer; cmd?: string[] } = {}): BuiltOciImage {
  const input: OciImageInput = {
    layers: [kernelLayer(o.kernelData), ...(o.initrd === false ? [] : [initrdLayer()]), ...(o.roms ?? []).map((r, i) => romLayer(r, `rom${i}`))],
    config: { Cmd: o.cmd ?? ['/app', '--port', '8080'], Env: ['PATH=/bin', 'MODE=prod'], Labels: { 'org.unikraft.image.name': 'app' } },
    platform: { os: o.os ?? 'qemu', architecture: o.arch ?? 'x86_64', 'os.version': '0.17.0', 'os.features': ['CONFIG_LIBUKFS_EROFS=y', 'CONFIG_LIBVFSCORE=y'] },
    manifestAnnotations: { 'org.unikraft.kernel.version': '0.17.0', 'sh.kraftkit.version': '0.11.0', 'org.unikraft.image.name': 'app' },
    created: '2025-01-02T03:04:05Z',
    refName: 'latest',
  };
  return buildOciImage(input);
}

/** A ROM-only package (no kernel): raw ROM layers for a platform. */
export function romImage(roms: Buffer[], os = 'kraftcloud', arch = 'x86_64'): BuiltOciImage {
  return buildOciImage({ layers: roms.map((r, i) => romLayer(r, `rom${i}`)), config: {}, platform: { os, architecture: arch }, refName: 'latest' });
}

/** A plain container image whose rootfs holds a urunc unikernel, with `/urunc.json` (base64 values) and no annotations. */
export function uruncJsonImage(values: Record<string, string>): BuiltOciImage {
  const urunc = JSON.stringify(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')])));
  const layer = gzipSync(buildTar([
    { path: 'unikernel/', type: 'dir' },
    { path: 'unikernel/kernel', type: 'file', data: Buffer.from('\x7fELF') },
    { path: 'urunc.json', type: 'file', data: Buffer.from(urunc) },
  ]));
  return buildOciImage({ layers: [{ blob: layer }], config: { Cmd: ['/unikernel/kernel'] }, refName: 'latest' });
}

/** A plain linux/amd64 container image (one gzip layer with /hello). */
export function containerImage(text = 'hi'): BuiltOciImage {
  const layer = gzipSync(buildTar([{ path: 'hello', type: 'file', mode: 0o755, data: Buffer.from(`#!/bin/sh\necho ${text}\n`) }]));
  return buildOciImage({ layers: [{ blob: layer }], config: { Entrypoint: ['/hello'], Env: ['A=1'] }, refName: 'latest', created: '2024-05-06T07:08:09Z' });
}

/** The index body of a built image (what index.json holds) and its manifest descriptor. */
export const manifestBody = (img: BuiltOciImage): Buffer => img.blobs.get(img.manifestDigest)!;
export const configBody = (img: BuiltOciImage): Buffer => img.blobs.get(img.configDigest)!;

/**
 * Stores a built image in a LocalRegistry under repo:tag: blobs, then the
 * manifest. With several images, stores an index over them (each entry keeps
 * its platform) and tags the index.
 */
export async function storeInRegistry(reg: LocalRegistry, to: { repo: string; tag: string; pushedBy?: string }, ...imgs: BuiltOciImage[]): Promise<string> {
  const { repo, tag } = to;
  const opts = to.pushedBy !== undefined ? { pushedBy: to.pushedBy } : undefined;
  for (const img of imgs) {
    for (const [d, b] of img.blobs) if (d !== img.manifestDigest) await reg.putBlob(Readable.from([b]), { digest: d, size: b.length });
    await reg.putManifest(repo, imgs.length === 1 ? tag : img.manifestDigest, manifestBody(img), 'application/vnd.oci.image.manifest.v1+json', imgs.length === 1 ? opts : undefined);
  }
  if (imgs.length === 1) return imgs[0]!.manifestDigest;
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: imgs.map((i) => {
      const { annotations: _a, ...d } = i.manifestDescriptor as { annotations?: unknown };
      return d;
    }),
  }));
  return (await reg.putManifest(repo, tag, index, 'application/vnd.oci.image.index.v1+json', opts)).digest;
}
