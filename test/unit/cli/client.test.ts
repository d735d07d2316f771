import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { normalizeMetro, resolveTarget } from '../../../src/cli/client.js';
import { configPath, readConfig, writeConfig } from '../../../src/cli/config.js';

const HOME = mkdtempSync(join(tmpdir(), 'hangar-client-'));
after(() => rmSync(HOME, { recursive: true, force: true }));

test('metros are URLs, host:port or local', () => {
  assert.equal(normalizeMetro('http://10.0.0.5:8080/v1/', {}), 'http://10.0.0.5:8080');
  assert.equal(normalizeMetro('https://node.example.com', {}), 'https://node.example.com');
  assert.equal(normalizeMetro('127.0.0.1:9000', {}), 'http://127.0.0.1:9000');
  assert.equal(normalizeMetro('local', { HANGAR_LISTEN: '0.0.0.0:8081' }), 'http://127.0.0.1:8081');
  assert.throws(() => normalizeMetro('fra', {}), /^HangarError: --metro fra: expected a node URL like http:\/\/127\.0\.0\.1:8080/);
});

test('first found wins: flag, env, config (only for its metro), local node token', () => {
  const home = join(HOME, 'order');
  const nodeHome = join(home, 'node');
  mkdirSync(nodeHome, { recursive: true });
  writeFileSync(join(nodeHome, 'token'), 'local-token\n');
  const env = { HOME: home, HANGAR_HOME: nodeHome };
  assert.deepEqual(resolveTarget({}, env), { baseUrl: 'http://127.0.0.1:8080', token: 'local-token', tokenFrom: 'local node' });
  writeConfig(env, { metro: 'http://10.0.0.5:8080', token: 'cfg-token' });
  assert.deepEqual(resolveTarget({}, env), { baseUrl: 'http://10.0.0.5:8080', token: 'cfg-token', tokenFrom: 'config' });
  // another metro does not get the stored token, nor (not loopback) the local one
  assert.deepEqual(resolveTarget({ metro: 'http://10.0.0.6:8080' }, env), { baseUrl: 'http://10.0.0.6:8080', token: undefined, tokenFrom: 'none' });
  assert.deepEqual(resolveTarget({ metro: 'local' }, env), { baseUrl: 'http://127.0.0.1:8080', token: 'local-token', tokenFrom: 'local node' });
  assert.equal(resolveTarget({}, { ...env, UKC_TOKEN: 'env-token' }).tokenFrom, 'env');
  assert.equal(resolveTarget({}, { ...env, UKC_METRO: 'http://10.0.0.7:1' }).baseUrl, 'http://10.0.0.7:1');
  assert.deepEqual(resolveTarget({ token: 'flag' }, { ...env, UKC_TOKEN: 'env-token' }).token, 'flag');
});

test('a broken config file is one line that says how to fix it', () => {
  const env = { HOME: join(HOME, 'broken') };
  mkdirSync(join(env.HOME, '.config', 'hangar'), { recursive: true });
  writeFileSync(configPath(env), 'metro: [unclosed\n');
  assert.throws(() => readConfig(env), (e: Error) => /^config .* is not valid YAML .*; fix it or run `hangar login` again$/.test(e.message) && !e.message.includes('\n'));
  writeFileSync(configPath(env), '- a list\n');
  assert.throws(() => readConfig(env), /must be a mapping/);
  assert.deepEqual(readConfig({ HOME: join(HOME, 'none') }), {});
});
