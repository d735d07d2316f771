import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Descriptor } from '../../../src/oci/descriptor.js';
import { parseIndex } from '../../../src/oci/manifest.js';
import { LINUX_AMD64, NODE_PLATFORMS, entriesFitting, pickManifest, platformFits, type PlatformPolicy } from '../../../src/oci/platform.js';

const entry = (os: string, architecture: string, n: number): Descriptor => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${String(n).repeat(64)}`, size: 1, platform: { os, architecture } });

test('NODE_PLATFORMS: linux/amd64 first, then kraftcloud, qemu, fc for x86_64; nothing for other arches', () => {
  assert.equal(pickManifest([entry('linux', 'arm64', 1), entry('linux', 'amd64', 2)], NODE_PLATFORMS)?.digest, entry('linux', 'amd64', 2).digest);
  assert.equal(pickManifest([entry('qemu', 'x86_64', 3), entry('kraftcloud', 'x86_64', 4)], NODE_PLATFORMS)?.digest, entry('kraftcloud', 'x86_64', 4).digest);
  assert.equal(pickManifest([entry('fc', 'x86_64', 5), entry('qemu', 'x86_64', 6)], NODE_PLATFORMS)?.digest, entry('qemu', 'x86_64', 6).digest);
  assert.equal(pickManifest([entry('unknown', 'unknown', 7), entry('linux', 'amd64', 8)], NODE_PLATFORMS)?.digest, entry('linux', 'amd64', 8).digest);
  assert.equal(pickManifest([entry('linux', 'arm64', 9)], NODE_PLATFORMS), undefined);
  assert.equal(entriesFitting([entry('qemu', 'x86_64', 1), entry('fc', 'x86_64', 2)], NODE_PLATFORMS).length, 2);
  assert.equal(entriesFitting([entry('linux', 'amd64', 1), entry('linux', 'arm64', 2)], NODE_PLATFORMS).length, 1);
});

test('parseIndex keeps platform os.version and os.features', () => {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...entry('qemu', 'x86_64', 1), platform: { os: 'qemu', architecture: 'x86_64', 'os.version': '0.17.0', 'os.features': ['CONFIG_A=y'] } }] }));
  const [e] = parseIndex(body);
  assert.equal(e!.platform?.['os.version'], '0.17.0');
  assert.deepEqual(e!.platform?.['os.features'], ['CONFIG_A=y']);
  assert.throws(() => parseIndex(Buffer.from('{"schemaVersion":2}')), /'manifests' must be an array/);
});

const bare = (n: number): Descriptor => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${String(n).repeat(64)}`, size: 1 });

test('LINUX_AMD64: only linux/amd64 (no Unikraft platforms, no x86_64 spelling), else the one entry without a platform', () => {
  assert.equal(pickManifest([entry('qemu', 'x86_64', 1), entry('linux', 'amd64', 2)], LINUX_AMD64)?.digest, entry('linux', 'amd64', 2).digest);
  assert.equal(pickManifest([entry('kraftcloud', 'x86_64', 1)], LINUX_AMD64), undefined);
  assert.equal(pickManifest([entry('linux', 'x86_64', 1)], LINUX_AMD64), undefined);
  assert.equal(pickManifest([bare(3)], LINUX_AMD64)?.digest, bare(3).digest);
  assert.equal(pickManifest([bare(3), bare(4)], LINUX_AMD64), undefined);
  assert.equal(entriesFitting([entry('linux', 'amd64', 1), entry('qemu', 'x86_64', 2), bare(3)], LINUX_AMD64).length, 2);
  assert.equal(platformFits(undefined, LINUX_AMD64), false);
});

test('a policy orders operating systems and may refuse the ones it does not list', () => {
  const qemuFirst: PlatformPolicy = { architectures: ['x86_64'], os: ['qemu', 'fc'], otherOs: false };
  assert.equal(pickManifest([entry('fc', 'x86_64', 1), entry('qemu', 'x86_64', 2)], qemuFirst)?.digest, entry('qemu', 'x86_64', 2).digest);
  assert.equal(pickManifest([entry('xen', 'x86_64', 1)], qemuFirst), undefined);
  assert.equal(pickManifest([entry('xen', 'x86_64', 1)], { ...qemuFirst, otherOs: true })?.digest, entry('xen', 'x86_64', 1).digest);
  assert.equal(pickManifest([{ ...entry('qemu', 'x86_64', 1), mediaType: 'application/vnd.oci.image.layer.v1.tar' }], qemuFirst), undefined);
});
