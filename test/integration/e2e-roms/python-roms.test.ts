/**
 * examples/python-roms end to end, exactly as its README says: the README's
 * ```sh blocks run in order in one bash against a real node (buildah build,
 * pkg of the ROM Kraftfiles, pushes to the node's /v2/, instances in real
 * sandboxes with EROFS ROMs mounted at /rom, an inline ROM from a folder),
 * each block's output checked against the ```text block the README shows
 * after it: two instances of one base give two different answers. Then what
 * the README does not print: the instances showed their ROMs, the images say
 * when they were built, and the clean-up block left no instance (the node's
 * teardown then checks that no ROM mount, loop device or sandbox is left).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestNode, type TestNode } from '../../helpers/node.js';
import { runCli } from '../../helpers/cli.js';
import { BUILD_CACHE, EXAMPLES, REPO, isRoot } from '../builder/cache.js';
import { readmeSteps, runSteps, type StepRun } from './readme.js';

const README = join(EXAMPLES, 'python-roms', 'README.md');

let n: TestNode;
let home: string;
before(async () => {
  if (!isRoot) throw new Error('needs root (buildah, sandboxes)');
  home = mkdtempSync(join(tmpdir(), 'hangar-e2e-roms-home-'));
  n = await startTestNode();
});
after(async () => {
  try {
    // Whatever a failed run left: the README's instances and images.
    await n?.api('DELETE', '/v1/instances', ['fn1', 'fn2', 'fn3', 'plain'].map((name) => ({ name })));
  } finally {
    rmSync(home, { recursive: true, force: true });
    const nodeHome = n?.config.home;
    await n?.close();
    // The ROM mounts' loop devices are the host's, outside what the node's teardown lists.
    const loops = spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => nodeHome !== undefined && l.includes(nodeHome));
    assert.deepEqual(loops, [], 'no loop device of this node is left');
  }
});

const show = (r: StepRun): string => `$ ${r.step.script.trim()}\n--- exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr.slice(-4000)}`;

test('examples/python-roms: the README\'s commands, pasted, give each instance of one base its own answer', { timeout: 1_200_000 }, async () => {
  const steps = readmeSteps(readFileSync(README, 'utf8'));
  assert.ok(steps.length >= 6, `the README has its command blocks (${steps.length})`);
  assert.deepEqual(steps.filter((s) => s.prints !== undefined).map((s) => s.prints), ['Hi from 1st ROM!\nHi from 2nd ROM!\n', 'Hi from 2nd ROM!\nNo code loaded\n']);
  // Everything except the clean-up block, then a look at the node, then the clean-up.
  const cleanup = steps.at(-1)!;
  assert.match(cleanup.script, /hangar instance remove/);
  const started = Date.now();
  const env = { PATH: process.env['PATH'], HOME: home, UKC_METRO: n.url, UKC_TOKEN: n.token, HANGAR_BUILD_CACHE: BUILD_CACHE, HANGAR_LOG_LEVEL: 'warn' };
  const runs = await runSteps(steps.slice(0, -1), { cwd: REPO, env, timeoutMs: 1_000_000 });
  for (const r of runs) {
    assert.equal(r.code, 0, show(r));
    if (r.step.prints !== undefined) assert.ok(r.stdout.endsWith(r.step.prints), `printed what the README shows:\n${show(r)}`);
  }
  assert.equal(runs.length, steps.length - 1);

  // `hangar instance get fn1` (a README block) showed the ROM.
  const get = runs.find((r) => /hangar instance get fn1$/m.test(r.step.script))!;
  assert.match(get.stdout, /^roms: +\S+ \(python-rom1:latest\) at \/rom$/m, show(get));

  const list = await n.api('GET', '/v1/instances');
  const byName = new Map(list.items.map((i) => [String(i['name']), i]));
  const roms = (name: string): Array<Record<string, unknown>> => (byName.get(name)?.['roms'] as Array<Record<string, unknown>> | undefined) ?? [];
  assert.deepEqual(roms('fn1').map((r) => [r['image'], r['at']]), [['python-rom1:latest', '/rom']]);
  assert.deepEqual(roms('fn2').map((r) => [r['image'], r['at']]), [['python-rom2:latest', '/rom']]);
  assert.deepEqual(roms('fn3').map((r) => [r['image'], r['at'], r['files']]), [[undefined, '/rom', [{ path: 'rom.py' }]]]);
  assert.deepEqual(roms('plain'), []);
  for (const name of ['fn1', 'fn2', 'fn3', 'plain']) assert.equal(byName.get(name)?.['image'], byName.get('fn1')?.['image'], `${name} runs the one base`);

  // The images say when they were built (this run), not the fixed file time of their layers.
  const images = await n.api('GET', '/v1/images');
  for (const repo of ['python-roms-base', 'python-rom1', 'python-rom2']) {
    const img = images.items.find((i) => (i['tags'] as string[] | undefined)?.includes(`${repo}:latest`));
    assert.ok(img, `${repo} is on the node: ${JSON.stringify(images.items.map((i) => i['tags']))}`);
    const created = Date.parse(String(img['created_at']));
    assert.ok(created >= Math.floor(started / 1000) * 1000 && created <= Date.now(), `${repo} created_at ${String(img['created_at'])} is the build time`);
  }

  const clean = (await runSteps([steps[0]!, cleanup], { cwd: REPO, env, timeoutMs: 120_000 })).at(-1);
  assert.equal(clean?.code, 0, clean ? show(clean) : 'clean-up ran');
  assert.deepEqual((await n.api('GET', '/v1/instances')).items, []);
  // Right after its last instance is gone an image (and a ROM image) can be removed.
  const left = (await n.api('GET', '/v1/images')).items.flatMap((i) => (i['tags'] as string[] | undefined) ?? []);
  for (const repo of ['python-roms-base', 'python-rom1', 'python-rom2']) assert.ok(!left.some((t) => t.startsWith(`${repo}:`)), `${repo} removed: ${JSON.stringify(left)}`);
});

test('bad --rom input through the CLI: one line naming the field, nothing created', { timeout: 120_000 }, async () => {
  const big = mkdtempSync(join(tmpdir(), 'hangar-e2e-roms-big-'));
  try {
    writeFileSync(join(big, 'a.bin'), Buffer.alloc(700_000, 1));
    writeFileSync(join(big, 'b.bin'), Buffer.alloc(700_000, 2));
    const env = { HOME: home, UKC_METRO: n.url, UKC_TOKEN: n.token };
    const cases: Array<[string[], RegExp]> = [
      [['--rom', `dir=${big},at=/rom`], /--rom dir=.*: more than 1 MiB of files, the most an inline ROM takes; package it as a ROM image instead: hangar pkg --rom/],
      [['--rom', 'image=no-such-rom:latest,at=/rom'], /roms\[0\]\.image/],
      [['--rom', `dir=${join(EXAMPLES, 'python-roms', 'rom1', 'fs')},at=/proc/x`], /roms\[0\]\.at/],
      [['--rom', 'image=hello:latest,at=/rom'], /roms\[0\]\.image/],
    ];
    for (const [flags, want] of cases) {
      const r = await runCli(['instance', 'create', 'hello:latest', '-n', 'badrom', ...flags], env);
      assert.notEqual(r.code, 0, `${flags.join(' ')}: ${r.err}`);
      assert.match(r.err, want);
      assert.equal(r.err.trimEnd().split('\n').length, 1, r.err);
      assert.equal((await n.api('GET', '/v1/instances?name=badrom')).items[0]?.['status'], 'error', 'nothing named badrom was created');
    }
  } finally {
    rmSync(big, { recursive: true, force: true });
  }
});
