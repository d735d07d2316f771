/**
 * Broken projects fail with one line that names the problem and the fix, and
 * leave nothing behind: no output layout, no temp folders, no working
 * containers or half-built images in buildah's storage.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildProject } from '../../../src/builder/index.js';
import { Buildah } from '../../../src/builder/buildah.js';
import { HangarError } from '../../../src/lib/errors.js';
import { BUILD_CACHE, isRoot } from './cache.js';

let work: string;

async function project(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  return dir;
}

const kraft = (extra = ''): string => `spec: v0.7\nrootfs: ./Dockerfile\ncmd: ["/x"]\n${extra}`;

const cases: Array<{ name: string; files: Record<string, string>; message: RegExp }> = [
  {
    name: 'COPY of a file that is not in the context',
    files: { Kraftfile: kraft(), Dockerfile: 'FROM scratch\nCOPY nothere /x\n' },
    message: /^Dockerfile: .*nothere.* \(fix the Dockerfile and build again\)$/,
  },
  {
    name: 'a RUN step that fails',
    files: { Kraftfile: kraft(), Dockerfile: 'FROM runtimes/base\nRUN echo building; exit 3\n' },
    message: /^Dockerfile: .*(exit status 3|exit code 3).* \(fix the Dockerfile and build again\)$/,
  },
  {
    name: 'an unknown instruction',
    files: { Kraftfile: kraft(), Dockerfile: 'FROM scratch\nFROBNICATE x\n' },
    message: /^Dockerfile: .*(FROBNICATE|frobnicate).* \(fix the Dockerfile and build again\)$/,
  },
  {
    name: 'a base image hangar cannot get offline',
    files: { Kraftfile: kraft(), Dockerfile: 'FROM debian:bookworm\nRUN true\n' },
    message: /^Dockerfile:1: FROM debian:bookworm: hangar builds offline and cannot pull 'debian:bookworm' \(use FROM scratch/,
  },
  {
    name: 'a runtime that is not in the catalog',
    files: { Kraftfile: kraft('runtime: ruby:3.3\n'), Dockerfile: 'FROM scratch\n' },
    message: /^runtime 'ruby:3\.3' is not in hangar's catalog \(use one of: base, python3, node, go\)$/,
  },
  {
    name: 'a Kraftfile key hangar does not support',
    files: { Kraftfile: kraft('libraries:\n  lwip: stable\n'), Dockerfile: 'FROM scratch\n' },
    message: /^Kraftfile: key 'libraries' is not supported by hangar \(remove it; hangar runs prebuilt runtimes\)$/,
  },
  {
    name: 'a rootfs Dockerfile that does not exist',
    files: { Kraftfile: 'spec: v0.6\nruntime: base\nrootfs: ./Dockerfile.missing\n' },
    message: /^Kraftfile: rootfs: '\.\/Dockerfile\.missing' does not exist/,
  },
  {
    name: 'nothing to run',
    files: { Kraftfile: 'spec: v0.7\nrootfs: ./Dockerfile\n', Dockerfile: 'FROM scratch\nCOPY Kraftfile /k\n' },
    message: /has nothing to run \(set cmd in the Kraftfile/,
  },
  { name: 'a folder with neither Kraftfile nor Dockerfile', files: { 'README.md': 'hi\n' }, message: /has no Kraftfile and no Dockerfile \(add a Kraftfile/ },
];

describe('bad input to buildProject', { skip: isRoot ? false : 'needs root (buildah)' }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hangar-badbuild-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  for (const c of cases) {
    it(`${c.name}: one clear line, nothing left behind`, async () => {
      const dir = await project(c.name.replace(/\W+/g, '-'), c.files);
      const outDir = join(work, 'out', c.name.replace(/\W+/g, '-'));
      await assert.rejects(buildProject(dir, { cacheDir: BUILD_CACHE, outDir }), (e: unknown) => {
        assert.ok(e instanceof HangarError, String(e));
        assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
        assert.match(e.message, c.message);
        return true;
      });
      assert.equal(existsSync(outDir), false, 'no output layout');
      assert.deepEqual((await readdir(BUILD_CACHE)).filter((f) => f.startsWith('.tmp-')), [], 'no temp folders');
      if (existsSync(join(BUILD_CACHE, 'buildah', 'root'))) {
        const b = new Buildah(join(BUILD_CACHE, 'buildah'));
        assert.deepEqual(await b.containers(), [], 'no working containers');
        const images = await b.images();
        assert.ok(images.every((i) => i.startsWith('localhost/runtimes/')), `only cached runtimes: ${images.join(', ')}`);
      }
    });
  }
});
