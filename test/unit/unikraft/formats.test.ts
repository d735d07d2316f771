import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { HangarError } from '../../../src/lib/errors.js';
import { buildOciImage, writeOciLayout, type BuiltOciImage } from '../../../src/image/oci-writer.js';
import { blobPath } from '../../../src/image/oci-layout.js';
import { buildTar } from '../../../src/image/tar-writer.js';
import {
  classifyImage,
  detectRomFormat,
  inspectContent,
  isKernelOrRomImage,
  parseUruncJson,
} from '../../../src/image/unikraft.js';
import {
  configBody,
  containerImage,
  cpioNewc,
  erofsImage,
  kernelLayer,
  manifestBody,
  pad4k,
  romImage,
  romLayer,
  singleFileTar,
  unikernelImage,
  uruncJsonImage,
} from './layouts.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Writes the image as a layout and returns a blob-path function for inspectContent. */
async function onDisk(img: BuiltOciImage): Promise<(d: string) => string> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-uk-'));
  dirs.push(dir);
  await writeOciLayout(img, dir);
  return (d) => blobPath(dir, d);
}

const classify = (img: BuiltOciImage) => classifyImage(manifestBody(img), configBody(img), img.manifestDescriptor as Parameters<typeof classifyImage>[2]);

test('kraftkit unikernel: kernel + initrd + ROM, platform, os.version/os.features, config', async () => {
  const rom = erofsImage({ 'rom.py': 'def function(): return "Hi from 1st ROM!\\n"\n' });
  const img = unikernelImage({ roms: [rom] });
  const info = classify(img);
  assert.equal(info.kind, 'unikernel');
  assert.equal(info.platform, 'qemu/x86_64');
  assert.equal(info.kernel?.path, '/unikraft/bin/kernel');
  assert.equal(info.initrd?.path, '/unikraft/bin/initrd');
  assert.equal(info.roms.length, 1);
  assert.equal(info.roms[0]!.name, 'rom0');
  assert.equal(info.roms[0]!.aligned, true);
  assert.equal(info.osVersion, '0.17.0');
  assert.deepEqual(info.osFeatures, ['CONFIG_LIBUKFS_EROFS=y', 'CONFIG_LIBVFSCORE=y']);
  assert.deepEqual(info.config.cmd, ['/app', '--port', '8080']);
  assert.deepEqual(info.labels, { 'org.unikraft.image.name': 'app' });
  assert.equal(info.annotations['sh.kraftkit.version'], '0.11.0');
  assert.equal(info.created, '2025-01-02T03:04:05Z');
  assert.equal(isKernelOrRomImage(info), true);
  const report = await inspectContent(info, await onDisk(img));
  assert.deepEqual(report.problems, []);
  assert.equal(info.roms[0]!.format, 'erofs');
});

test('the config alone carries the platform when no index entry does', () => {
  const img = unikernelImage({ os: 'kraftcloud' });
  const info = classifyImage(manifestBody(img), configBody(img));
  assert.equal(info.platform, 'kraftcloud/x86_64');
  assert.equal(info.kind, 'unikernel');
});

test('ROM-only packages: EROFS, CPIO and raw, each padded to 4096', async () => {
  const erofs = erofsImage({ 'a.txt': 'A' });
  const cpio = pad4k(cpioNewc([{ name: 'rom.js', data: Buffer.from('export default 1;\n') }]));
  const raw = pad4k(Buffer.from('just bytes'));
  const img = romImage([erofs, cpio, raw]);
  const info = classify(img);
  assert.equal(info.kind, 'rom');
  assert.equal(info.platform, 'kraftcloud/x86_64');
  assert.equal(info.kernel, undefined);
  assert.equal(info.roms.length, 3);
  const report = await inspectContent(info, await onDisk(img));
  assert.deepEqual(report.problems, []);
  assert.deepEqual(info.roms.map((r) => r.format), ['erofs', 'cpio', 'raw']);
  assert.ok(info.roms.every((r) => r.size % 4096 === 0));
});

test('an unaligned ROM is flagged', async () => {
  const img = romImage([Buffer.alloc(5000, 1)]);
  const info = classify(img);
  assert.equal(info.roms[0]!.aligned, false);
  const report = await inspectContent(info, await onDisk(img));
  assert.match(report.problems.join('\n'), /5000 bytes is not a multiple of 4096/);
});

test('a kernel layer whose tar lacks the annotated file is flagged', async () => {
  const broken = { ...kernelLayer(), blob: singleFileTar('unikraft/bin/other', Buffer.from('x')) };
  const img = buildOciImage({ layers: [broken], config: {}, platform: { os: 'fc', architecture: 'x86_64' } });
  const info = classify(img);
  assert.equal(info.kind, 'unikernel');
  const report = await inspectContent(info, await onDisk(img));
  assert.match(report.problems.join('\n'), /does not hold \/unikraft\/bin\/kernel/);
});

test('an initrd-only package is a rootfs for the platform kernel', () => {
  const img = buildOciImage({ layers: [{ ...kernelLayer(), annotations: { 'org.unikraft.kernel.initrd': '/unikraft/bin/initrd' }, blob: singleFileTar('unikraft/bin/initrd', cpioNewc([])) }], config: {}, platform: { os: 'kraftcloud', architecture: 'x86_64' } });
  const info = classify(img);
  assert.equal(info.kind, 'initrd');
  assert.equal(info.initrd?.path, '/unikraft/bin/initrd');
  assert.equal(isKernelOrRomImage(info), true);
});

test('detectRomFormat: EROFS magic at 1024, CPIO magics, raw otherwise', () => {
  const e = Buffer.alloc(4096);
  e.writeUInt32LE(0xe0f5e1e2, 1024);
  assert.equal(detectRomFormat(e), 'erofs');
  assert.equal(detectRomFormat(Buffer.from('070707rest')), 'cpio');
  assert.equal(detectRomFormat(Buffer.from('070701rest')), 'cpio');
  assert.equal(detectRomFormat(Buffer.alloc(10)), 'raw');
  assert.equal(detectRomFormat(erofsImage({ x: 'y' })), 'erofs');
});

test('urunc annotations on the manifest are recognised; missing required keys are listed', () => {
  const base = { layers: [{ blob: gzipSync(buildTar([{ path: 'unikernel/kernel', type: 'file', data: Buffer.from('k') }])) }], config: {} };
  const full = buildOciImage({
    ...base,
    manifestAnnotations: {
      'com.urunc.unikernel.unikernelType': 'unikraft',
      'com.urunc.unikernel.hypervisor': 'qemu',
      'com.urunc.unikernel.binary': '/unikernel/kernel',
      'com.urunc.unikernel.cmdline': 'nginx -c /nginx/conf/nginx.conf',
      'com.urunc.unikernel.unikernelVersion': '0.17.0',
    },
  });
  const info = classify(full);
  assert.equal(info.kind, 'urunc');
  assert.equal(info.urunc?.source, 'annotations');
  assert.equal(info.urunc?.values['hypervisor'], 'qemu');
  assert.deepEqual(info.urunc?.missing, []);
  assert.equal(isKernelOrRomImage(info), true);
  const partial = classify(buildOciImage({ ...base, manifestAnnotations: { 'com.urunc.unikernel.hypervisor': 'firecracker' } }));
  assert.deepEqual(partial.urunc?.missing, ['unikernelType', 'binary', 'cmdline']);
  // Labels count too (bunny turns Containerfile LABELs into both).
  const labelled = classify(buildOciImage({ ...base, config: { Labels: { 'com.urunc.unikernel.binary': '/k' } } }));
  assert.equal(labelled.kind, 'urunc');
});

test('urunc.json (base64 values) in the rootfs is found when there are no annotations', async () => {
  const img = uruncJsonImage({ 'com.urunc.unikernel.unikernelType': 'unikraft', 'com.urunc.unikernel.hypervisor': 'qemu', 'com.urunc.unikernel.binary': '/unikernel/kernel', 'com.urunc.unikernel.cmdline': 'app' });
  const info = classify(img);
  assert.equal(info.kind, 'oci');
  const report = await inspectContent(info, await onDisk(img));
  assert.equal(info.kind, 'urunc');
  assert.equal(report.urunc?.source, 'urunc.json');
  assert.equal(info.urunc?.values['binary'], '/unikernel/kernel');
  assert.deepEqual(info.urunc?.missing, []);
});

test('parseUruncJson refuses values that are not base64', () => {
  assert.throws(() => parseUruncJson('{"com.urunc.unikernel.binary":"/not base64!"}'), /not base64/);
  assert.throws(() => parseUruncJson('nope'), /not valid JSON/);
  assert.equal(parseUruncJson('{"other":"eA=="}'), undefined);
});

test('a plain container image is oci and runnable', async () => {
  const img = containerImage();
  const info = classify(img);
  assert.equal(info.kind, 'oci');
  assert.equal(isKernelOrRomImage(info), false);
  assert.deepEqual(info.config.entrypoint, ['/hello']);
  const report = await inspectContent(info, await onDisk(img));
  assert.deepEqual(report.problems, []);
  assert.equal(info.kind, 'oci');
});

test('malformed or mixed layouts are refused naming image', () => {
  const unknownLayer = buildOciImage({ layers: [{ blob: Buffer.from('x'), mediaType: 'application/x-mystery', diffId: 'sha256:' + '1'.repeat(64) }], config: {} });
  assert.throws(() => classify(unknownLayer), (e: unknown) => e instanceof HangarError && e.field === 'image' && /unknown layer mediaType 'application\/x-mystery'/.test(e.message));
  const mixed = buildOciImage({ layers: [romLayer(pad4k(Buffer.from('r'))), { blob: gzipSync(buildTar([{ path: 'a', type: 'file', data: Buffer.from('a') }])) }], config: {} });
  assert.throws(() => classify(mixed), /mixes ROM or initrd layers with container layers/);
  const twoKernels = buildOciImage({ layers: [kernelLayer(), kernelLayer(Buffer.from('other'))], config: {} });
  assert.throws(() => classify(twoKernels), /a second kernel layer/);
  assert.throws(() => classifyImage(Buffer.from('{'), Buffer.from('{}')), /not valid JSON/);
  assert.throws(() => classifyImage(Buffer.from('{"schemaVersion":1}'), Buffer.from('{}')), /schemaVersion must be 2/);
  const artifact = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:' + '2'.repeat(64), size: 2 }, layers: [] }));
  assert.throws(() => classifyImage(artifact, Buffer.from('{}')), /is not an image config/);
});

