import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { test } from 'node:test';

/**
 * The layering of DEVELOPERS.md, checked: imports point down only, and core/
 * never reaches a driver. `node/` (the composition root) and `cli/` may import anything.
 */
const SRC = resolve(new URL('../../../src', import.meta.url).pathname);

const ALLOWED: Record<string, string[]> = {
  lib: ['lib'],
  oci: ['oci', 'lib'],
  core: ['core', 'oci', 'lib'],
  api: ['api', 'core', 'lib'],
  store: ['store', 'core', 'lib'],
  registry: ['registry', 'oci', 'lib'],
  image: ['image', 'core', 'registry', 'distribution', 'oci', 'lib'],
  runtime: ['runtime', 'core', 'lib'],
  net: ['net', 'core', 'lib'],
  ingress: ['ingress', 'core', 'lib'],
  distribution: ['distribution', 'oci', 'lib'],
  builder: ['builder', 'image', 'distribution', 'oci', 'lib'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('imports between src/ folders point down only', () => {
  const wrong: string[] = [];
  for (const file of files(SRC)) {
    const layer = relative(SRC, file).split('/')[0]!;
    if (layer === 'node' || layer === 'cli') continue; // the composition root and the CLI may import anything
    const allowed = ALLOWED[layer];
    if (!allowed) {
      wrong.push(`${relative(SRC, file)}: folder '${layer}' has no place in the layering; add it to ALLOWED`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)) {
      const target = relative(SRC, resolve(dirname(file), m[1]!)).split('/')[0]!;
      if (!allowed.includes(target)) wrong.push(`${relative(SRC, file)} imports ${m[1]} (${layer} → ${target})`);
    }
  }
  assert.deepEqual(wrong, []);
});

for (const layer of ['core', 'oci']) {
  test(`${layer} imports no Node module that does I/O (process, disk, network)`, () => {
    const banned = /from\s+'node:(child_process|fs|fs\/promises|net|http|https|dgram|dns)'/;
    const hits = files(join(SRC, layer)).filter((f) => banned.test(readFileSync(f, 'utf8')));
    assert.deepEqual(hits.map((f) => relative(SRC, f)), []);
  });
}
