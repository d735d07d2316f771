/**
 * Built images say when they were built (config `created`, what `/v1/images`
 * shows as created_at), while their layers stay reproducible: same inputs,
 * same layer digests, whatever the build time. $SOURCE_DATE_EPOCH fixes both.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildProject, pkg } from '../../../src/builder/index.js';
import { defaultCreated, defaultTimestamp } from '../../../src/builder/times.js';
import { blobPath } from '../../../src/image/oci-layout.js';
import { FIXED_MTIME } from '../../../src/image/tar-writer.js';

type Json = Record<string, unknown>;
const json = async (p: string): Promise<Json> => JSON.parse(await readFile(p, 'utf8')) as Json;

/** The linux/amd64 (or only) manifest, its config, and its layer digests. */
async function inspect(layout: string): Promise<{ created: unknown; annotation: unknown; layers: string[] }> {
  const index = await json(join(layout, 'index.json'));
  const manifest = await json(blobPath(layout, (index['manifests'] as Array<{ digest: string }>)[0]!.digest));
  const config = await json(blobPath(layout, (manifest['config'] as { digest: string }).digest));
  return {
    created: config['created'],
    annotation: (manifest['annotations'] as Json | undefined)?.['org.opencontainers.image.created'],
    layers: (manifest['layers'] as Array<{ digest: string }>).map((l) => l.digest),
  };
}

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'hangar-created-'));
  await mkdir(join(work, 'app', 'files', 'srv'), { recursive: true });
  await writeFile(join(work, 'app', 'files', 'srv', 'run.sh'), '#!/bin/sh\necho hi\n');
  await writeFile(join(work, 'app', 'Kraftfile'), 'spec: v0.7\nname: created-test\nrootfs: ./files\ncmd: ["/srv/run.sh"]\n');
  await mkdir(join(work, 'rom', 'fs'), { recursive: true });
  await writeFile(join(work, 'rom', 'fs', 'rom.py'), 'def function():\n    return "Hi\\n"\n');
});
after(() => rm(work, { recursive: true, force: true }));

describe('created: the build time, layers unchanged', () => {
  it('defaults: file times fixed, created now; $SOURCE_DATE_EPOCH sets both', () => {
    const now = Date.parse('2026-11-29T14:00:00Z');
    assert.equal(defaultTimestamp({}), FIXED_MTIME.getTime() / 1000);
    assert.equal(defaultCreated({}, now), now / 1000);
    assert.equal(defaultTimestamp({ SOURCE_DATE_EPOCH: '1700000000' }), 1700000000);
    assert.equal(defaultCreated({ SOURCE_DATE_EPOCH: '1700000000' }, now), 1700000000);
    assert.equal(defaultCreated({ SOURCE_DATE_EPOCH: 'soon' }, now), now / 1000, 'a malformed value is ignored');
  });

  it('an app image built now says now, not the fixed file time; a rebuild has the same layers', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const a = await buildProject(join(work, 'app'), { cacheDir: join(work, 'cache'), outDir: join(work, 'out-a') });
    const t1 = Math.ceil(Date.now() / 1000);
    const ia = await inspect(a.layoutDir);
    const created = Date.parse(String(ia.created)) / 1000;
    assert.ok(created >= t0 && created <= t1, `created ${String(ia.created)} is the build time`);
    assert.equal(ia.annotation, ia.created);
    const b = await buildProject(join(work, 'app'), { cacheDir: join(work, 'cache'), outDir: join(work, 'out-b'), created: 1800000000 });
    const ib = await inspect(b.layoutDir);
    assert.equal(ib.created, '2027-01-15T08:00:00Z');
    assert.deepEqual(ib.layers, ia.layers, 'same inputs, same layers');
    const c = await buildProject(join(work, 'app'), { cacheDir: join(work, 'cache'), outDir: join(work, 'out-c'), created: 1800000000 });
    assert.equal(c.manifestDigest, b.manifestDigest, 'a fixed created time makes the whole image reproducible');
    const again = await pkg({ name: 'created-test:v2', from: b.layoutDir, cacheDir: join(work, 'cache'), outDir: join(work, 'out-pkg') });
    assert.equal((await inspect(again.layoutDir)).created, ib.created, 'packaging an image again keeps when it was built');
  });

  it('a ROM package says when it was packaged; its ROM layer does not change with the time', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const a = await pkg({ name: 'rom-created', roms: [join(work, 'rom', 'fs')], romType: 'cpio', cacheDir: join(work, 'cache'), outDir: join(work, 'rom-a') });
    const t1 = Math.ceil(Date.now() / 1000);
    const ia = await inspect(a.layoutDir);
    const created = Date.parse(String(ia.created)) / 1000;
    assert.ok(created >= t0 && created <= t1, `created ${String(ia.created)} is the packaging time`);
    const b = await pkg({ name: 'rom-created', roms: [join(work, 'rom', 'fs')], romType: 'cpio', cacheDir: join(work, 'cache'), outDir: join(work, 'rom-b'), created: 1 });
    const ib = await inspect(b.layoutDir);
    assert.equal(ib.created, '1970-01-01T00:00:01Z');
    assert.deepEqual(ib.layers, ia.layers);
  });
});
