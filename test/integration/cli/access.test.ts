import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { startTestNode, type TestNode } from '../../helpers/node.js';
import { runCli, tempHome } from '../../helpers/cli.js';

let n: TestNode;
const homes: string[] = [];
const home = (): string => {
  const h = tempHome();
  homes.push(h);
  return h;
};

before(async () => {
  n = await startTestNode();
});
after(async () => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
  await n?.close();
});

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test('login checks the token, writes the config 0600, and later commands use it', async () => {
  const HOME = home();
  const r = await runCli(['login', '--metro', n.url, '--token', n.token], { HOME });
  assert.equal(r.code, 0, r.err);
  const path = join(HOME, '.config', 'hangar', 'config.yaml');
  assert.match(r.out, new RegExp(`^logged in to ${n.url} as user [0-9a-f-]{36}; saved to ${path}\\n$`));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(HOME, '.config', 'hangar')).mode & 0o777, 0o700);
  assert.deepEqual(YAML.parse(readFileSync(path, 'utf8')), { metro: n.url, token: n.token });
  const q = await runCli(['quotas', '-o', 'json'], { HOME });
  assert.equal(q.code, 0, q.err);
  assert.ok((JSON.parse(q.out) as Array<{ hard: unknown }>)[0]!.hard);
  const table = await runCli(['quotas'], { HOME });
  assert.match(table.out, /^RESOURCE\s+USED\s+LIMIT$/m);
  assert.match(table.out, /^live memory\s+0 MiB\s+\d/m);
  const out = await runCli(['logout'], { HOME });
  assert.equal(out.code, 0);
  const again = await runCli(['quotas'], { HOME });
  assert.equal(again.code, 4);
  assert.match(again.err, /^hangar: no token for the node at http:\/\/127\.0\.0\.1:8080: run `hangar login`/);
});

test('login honours XDG_CONFIG_HOME and reads the token from stdin', async () => {
  const HOME = home();
  const XDG_CONFIG_HOME = join(HOME, 'xdg');
  const { Readable } = await import('node:stream');
  const r = await runCli(['login', '--metro', n.url], { HOME, XDG_CONFIG_HOME }, { stdin: Readable.from([`${n.token}\n`]) });
  assert.equal(r.code, 0, r.err);
  assert.equal(statSync(join(XDG_CONFIG_HOME, 'hangar', 'config.yaml')).mode & 0o777, 0o600);
});

test('a bad token: one line naming 401 and `hangar login`, exit 4, no config written', async () => {
  const HOME = home();
  const login = await runCli(['login', '--metro', n.url, '--token', 'wrong'], { HOME });
  assert.equal(login.code, 4);
  assert.equal(login.err, `hangar: the node at ${n.url} refused the token from flag (401 invalid token); run \`hangar login\` or set --token/UKC_TOKEN\n`);
  assert.throws(() => statSync(join(HOME, '.config', 'hangar', 'config.yaml')));
  const list = await runCli(['instance', 'list'], { HOME, UKC_METRO: n.url, UKC_TOKEN: 'wrong' });
  assert.equal(list.code, 4);
  assert.match(list.err, /^hangar: the node at .* refused the token from env \(401 invalid token\); run `hangar login`/);
  assert.equal(list.err.split('\n').length, 2, 'one line');
});

test('an unreachable node: one line naming the URL and `hangar node`, exit 3', async () => {
  const port = await closedPort();
  const url = `http://127.0.0.1:${port}`;
  for (const argv of [['instance', 'list'], ['--metro', url, 'quotas'], ['login', '--token', 'x'], ['instance', 'create', '--image', 'hello:latest']]) {
    const r = await runCli(argv, { HOME: home(), UKC_METRO: url, UKC_TOKEN: 'x' });
    assert.equal(r.code, 3, `${argv.join(' ')}: ${r.err}`);
    assert.equal(r.err, `hangar: cannot reach the node at ${url} — is \`hangar node\` running? (set --metro/UKC_METRO)\n`);
  }
});

test('the token search order: flag, env, config (for its metro only), local node', async () => {
  const HOME = home();
  const HANGAR_HOME = join(HOME, 'node');
  mkdirSync(HANGAR_HOME);
  writeFileSync(join(HANGAR_HOME, 'token'), `${n.token}\n`);
  const port = new URL(n.url).port;
  // the local node's token, found through HANGAR_LISTEN
  const local = await runCli(['instance', 'list', '-o', 'json'], { HOME, HANGAR_HOME, HANGAR_LISTEN: `127.0.0.1:${port}` });
  assert.equal(local.code, 0, local.err);
  // a flag wins over everything
  const flag = await runCli(['instance', 'list', '--token', 'wrong'], { HOME, HANGAR_HOME, HANGAR_LISTEN: `127.0.0.1:${port}` });
  assert.equal(flag.code, 4);
  assert.match(flag.err, /token from flag/);
});

test('volumes: one line that the node does not support them yet, exit 1', async () => {
  const env = { HOME: home(), UKC_METRO: n.url, UKC_TOKEN: n.token };
  const cases: Array<[string[], string]> = [
    [['volume', 'list'], 'volume: the node at URL does not support volumes yet (no GET /v1/volumes); nothing was changed'],
    [['volume', 'create', '-n', 'data', '-s', '1Gi'], 'volume: the node at URL does not support volumes yet (no POST /v1/volumes); nothing was changed'],
    [['vol', 'attach', 'data', '--to', 'web', '--at', '/data'], 'volume: the node at URL does not support volumes yet (no PUT /v1/volumes/attach); nothing was changed'],
  ];
  for (const [argv, msg] of cases) {
    const r = await runCli(argv, env);
    assert.equal(r.code, 1, `${argv.join(' ')}: ${r.err}`);
    assert.equal(r.err, `hangar: ${msg.replace('URL', n.url)}\n`);
  }
  const bad = await runCli(['service', 'create', '443:http'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^hangar: service create 443:http: expected <public>:<dest>/);
});

test('services: create, list and remove a service group through the node', async () => {
  const env = { HOME: home(), UKC_METRO: n.url, UKC_TOKEN: n.token };
  const made = await runCli(['svc', 'create', '443:8080/http+tls', '-n', 'cli-web', '-d', 'cli-web'], env);
  assert.equal(made.code, 0, made.err);
  assert.match(made.out, /^service cli-web created \(/);
  const list = await runCli(['service', 'list', '-o', 'json'], env);
  assert.equal(list.code, 0, list.err);
  const groups = JSON.parse(list.out) as Array<Record<string, unknown>>;
  const web = groups.find((g) => g['name'] === 'cli-web');
  assert.ok(web, list.out);
  assert.deepEqual((web['services'] as Array<Record<string, unknown>>).map((s) => [s['port'], s['destination_port']]), [[443, 8080]]);
  assert.deepEqual((web['domains'] as Array<Record<string, unknown>>).map((d) => d['fqdn']), ['cli-web.localhost']);
  const rm = await runCli(['service', 'remove', 'cli-web'], env);
  assert.equal(rm.code, 0, rm.err);
  const after = await runCli(['service', 'list', '-o', 'json'], env);
  assert.equal((JSON.parse(after.out) as Array<Record<string, unknown>>).some((g) => g['name'] === 'cli-web'), false);
});
