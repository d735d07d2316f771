import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { HangarError } from '../../../src/lib/errors.js';
import { hangarHome, readSettings, SETTINGS, settingsTable, unknownSettings } from '../../../src/lib/settings.js';
import { configFromEnv } from '../../../src/node/config.js';

const REPO = resolve(new URL('../../../..', import.meta.url).pathname);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('the README configuration table is the one the schema makes', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const m = /<!-- settings:begin -->\n([\s\S]*?)\n<!-- settings:end -->/.exec(readme);
  assert.ok(m, 'README has the settings markers');
  assert.equal(m[1], settingsTable(), 'regenerate with: node dist/scripts/settings-table.js');
});

test('every HANGAR_* variable the code names is in the schema, and only settings.ts reads them from the environment', () => {
  const named = new Set<string>();
  const direct: string[] = [];
  for (const f of sources(join(REPO, 'src'))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/HANGAR_[A-Z0-9_]+/g)) if (!m[0].startsWith('HANGAR_TEST_')) named.add(m[0]);
    if (!f.endsWith('lib/settings.ts') && /env\[['"]HANGAR_\w+['"]\](?!\s*=)|env\.HANGAR_\w+(?!\s*=)/.test(text)) direct.push(f);
  }
  assert.deepEqual([...named].filter((n) => !(n in SETTINGS)).sort(), []);
  assert.deepEqual(direct, []);
});

test('a bad value is refused with the variable named', () => {
  const cases: Array<[string, string]> = [
    ['HANGAR_NET_PREWARM', 'four'],
    ['HANGAR_NET_PREWARM', '-1'],
    ['HANGAR_STOP_GRACE_MS', '1.5'],
    ['HANGAR_MAX_MEMORY_MB', '0'],
    ['HANGAR_LISTEN', 'localhost'],
    ['HANGAR_LISTEN', 'a b:80'],
    ['HANGAR_SUBNET', '10.77.0.0'],
    ['HANGAR_BRIDGE', 'a-bridge-name-too-long'],
    ['HANGAR_LOG_LEVEL', 'loud'],
    ['HANGAR_CENTRAL_REGISTRY', 'http://host:5000/some/path'],
    ['HANGAR_REGISTRY_MAX_BLOB_BYTES', '10G'],
    ['HANGAR_CGROUP_PARENT', 'hangar'],
    ['HANGAR_DEBIAN_MIRROR', 'not a url'],
  ];
  for (const [k, v] of cases) {
    assert.throws(() => configFromEnv({ [k]: v }), (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument' && e.field === k && e.message.includes(v), `${k}=${v}`);
  }
});

test('defaults, and values as typed', () => {
  const c = configFromEnv({ HOME: '/tmp/somebody' });
  assert.equal(c.home, '/tmp/somebody/.hangar');
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 8080);
  assert.equal(c.network.prewarm, 4);
  assert.equal(c.stopGraceMs, 10_000);
  assert.equal(c.central, undefined);
  const d = configFromEnv({ HANGAR_HOME: 'rel/home', HANGAR_LISTEN: '[::1]:9000', HANGAR_NET_PREWARM: '0', HANGAR_REGISTRY_MAX_BLOB_BYTES: '1024', HANGAR_CENTRAL_REGISTRY: 'http://127.0.0.1:5000', HANGAR_CENTRAL_USER: 'u' });
  assert.equal(d.home, resolve('rel/home'));
  assert.equal(d.host, '::1');
  assert.equal(d.port, 9000);
  assert.equal(d.network.prewarm, 0);
  assert.deepEqual(d.registryLimits, { maxBlobBytes: 1024 });
  assert.deepEqual(d.central, { url: 'http://127.0.0.1:5000', username: 'u', password: '' });
  assert.equal(readSettings({ HANGAR_DEBUG: '1' }).HANGAR_DEBUG, true);
  assert.equal(readSettings({ HANGAR_NET_PREWARM: '' }).HANGAR_NET_PREWARM, undefined, 'empty counts as unset');
  assert.equal(hangarHome({ HOME: '/h' }), '/h/.hangar');
  assert.deepEqual(unknownSettings({ HANGAR_LSTEN: 'x', HANGAR_HOME: '/x', HANGAR_TEST_CHILD_NODE: '{}' }), ['HANGAR_LSTEN']);
});
