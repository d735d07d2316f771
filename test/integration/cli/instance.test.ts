import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { startTestNode, type TestNode } from '../../helpers/node.js';
import { runCli, tempHome } from '../../helpers/cli.js';

let n: TestNode;
let env: NodeJS.ProcessEnv;
const hangar = (...argv: string[]) => runCli(argv, env);

before(async () => {
  n = await startTestNode();
  env = { HOME: tempHome(), UKC_METRO: n.url, UKC_TOKEN: n.token };
});
after(async () => {
  if (env?.['HOME']) rmSync(env['HOME'], { recursive: true, force: true });
  await n?.close();
});

test('instance create -o json: running, with a private IP', async () => {
  const r = await hangar('instance', 'create', '--image', 'hello:latest', '-n', 'x', '-M', '64Mi', '-e', 'GREETING=hi', '-o', 'json');
  assert.equal(r.code, 0, r.err);
  const rows = JSON.parse(r.out) as Array<Record<string, unknown>>;
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!['name'], 'x');
  assert.equal(rows[0]!['state'], 'running');
  assert.match(String(rows[0]!['private_ip']), /^\d+\.\d+\.\d+\.\d+$/);
  assert.equal(rows[0]!['memory_mb'], 64);
  assert.deepEqual(rows[0]!['env'], { GREETING: 'hi' });
});

test('instance list as json, yaml and an 80-column table', async () => {
  const json = await hangar('instance', 'list', '-o', 'json');
  assert.equal(json.code, 0, json.err);
  assert.deepEqual((JSON.parse(json.out) as Array<{ name: string }>).map((i) => i.name), ['x']);
  const yaml = await hangar('instances', 'ls', '-o', 'yaml');
  assert.equal((YAML.parse(yaml.out) as Array<{ state: string }>)[0]!.state, 'running');
  const table = await hangar('instance', 'list');
  assert.equal(table.code, 0, table.err);
  const lines = table.out.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+STATE\s+IMAGE\s+PRIVATE IP\s+MEMORY\s+CREATED\s+UUID$/);
  assert.match(lines[1]!, /^x\s+running\s+hello:latest\s+\d+\.\d+\.\d+\.\d+\s+64 MiB/);
  for (const l of lines) assert.ok(l.length <= 80, `${l.length} columns: ${l}`);
});

test('instance get shows one block per instance; -o json the node\'s object', async () => {
  const r = await hangar('instance', 'get', 'x');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^name:\s+x$/m);
  assert.match(r.out, /^state:\s+running$/m);
  assert.match(r.out, /^private ip:\s+\d+\.\d+\.\d+\.\d+$/m);
  const j = JSON.parse((await hangar('instance', 'get', 'x', '-o', 'json')).out) as Array<{ uuid: string }>;
  const byUuid = await hangar('instance', 'get', j[0]!.uuid, '-o', 'json');
  assert.equal((JSON.parse(byUuid.out) as Array<{ name: string }>)[0]!.name, 'x');
});

test('instance logs prints the console; -n tails it', async () => {
  const r = await hangar('instance', 'logs', 'x');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /listening/);
  const t = await hangar('instance', 'logs', 'x', '-n', '1');
  assert.equal(t.out.trimEnd().split('\n').length, 1);
});

test('stop -w, start, suspend, wait: each a one-line transition', async () => {
  const stop = await hangar('instance', 'stop', 'x', '-w', '10s');
  assert.equal(stop.code, 0, stop.err);
  assert.equal(stop.out, 'x stopped (running → stopped)\n');
  const start = await hangar('instance', 'start', 'x');
  assert.equal(start.code, 0, start.err);
  assert.equal(start.out, 'x started (stopped → running)\n');
  const suspend = await hangar('instance', 'suspend', 'x');
  assert.equal(suspend.code, 0, suspend.err);
  assert.match(suspend.out, /^x suspended \(running → standby\)\n$/);
  const wait = await hangar('instance', 'wait', 'x', '--state', 'standby', '-t', '5s');
  assert.equal(wait.code, 0, wait.err);
  assert.equal(wait.out, 'x is standby\n');
  const resume = await hangar('instance', 'start', 'x', '-o', 'json');
  assert.equal((JSON.parse(resume.out) as Array<{ state: string }>)[0]!.state, 'running');
});

test('logs -f follows until the instance stops', async () => {
  const follow = hangar('instance', 'logs', '-f', 'x');
  await new Promise((r) => setTimeout(r, 700));
  const stop = await hangar('instance', 'stop', 'x');
  assert.equal(stop.code, 0, stop.err);
  const r = await follow;
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /listening/);
});

test('a missing instance is one line naming it, exit 1', async () => {
  const r = await hangar('instance', 'get', 'nope');
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.equal(r.err, "hangar: instance get: No instance with name 'nope' (`hangar instance list` shows what there is)\n");
  const some = await hangar('instance', 'stop', 'x', 'nope');
  assert.equal(some.code, 1);
  assert.match(some.out, /^x stopped/);
  assert.equal(some.err, "hangar: instance stop: No instance with name 'nope' (`hangar instance list` shows what there is)\n");
});

test('create with ports and scale-to-zero: the ports make its service group; scale-to-zero is noted as not applied', async () => {
  const r = await hangar('instance', 'create', 'hello:latest', '-n', 'web', '-p', '443:8080/http+tls', '--scale-to-zero', 'policy=on,cooldown-time=1000,stateful=true', '-o', 'json');
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.err, /are checked but not served/);
  assert.match(r.err, /note: scale-to-zero is checked but not applied/);
  const made = (JSON.parse(r.out) as Array<{ state: string; service_group?: { uuid?: string } }>)[0]!;
  assert.equal(made.state, 'running');
  assert.ok(made.service_group?.uuid, r.out);
});

test('bad flags are refused before anything reaches the node', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['-p', '443:http'], /^hangar: -p 443:http: expected <public>:<dest>\[\/<handlers>\], e\.g\. 443:8080\/http\+tls\n$/],
    [['-p', '443:8080/http'], /port 443 needs the handlers http\+tls/],
    [['-M', '12Qi'], /^hangar: -M 12Qi: unknown unit 'Qi'/],
    [['-e', '1X=2'], /^hangar: -e 1X=2: expected KEY=VALUE/],
    [['--rom', 'at=/rom'], /give exactly one of image= or dir=/],
    [['--scale-to-zero', 'sometimes'], /expected on, idle, off or key=value pairs/],
    [['--scale-to-zero', 'on'], /--scale-to-zero needs a published port/],
    [['--env-file', '/nonexistent/env'], /--env-file \/nonexistent\/env: cannot read it \(ENOENT\)/],
  ];
  for (const [flags, want] of cases) {
    const r = await hangar('instance', 'create', '--image', 'hello:latest', '-n', 'bad', ...flags);
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.err}`);
    assert.match(r.err, want);
    assert.equal(r.err.trimEnd().split('\n').length, 1, r.err);
  }
  const list = await n.api('GET', '/v1/instances?name=bad');
  assert.equal(list.items[0]?.['status'], 'error', 'nothing named bad was created');
});

test('an image the node does not have: one line from the node, nothing created', async () => {
  const r = await hangar('instance', 'create', '--image', 'no-such-image:latest', '-n', 'ghost');
  assert.notEqual(r.code, 0);
  assert.equal(r.out, '');
  assert.equal(r.err.split('\n').length, 2, r.err);
  assert.match(r.err, /^hangar: .*no-such-image/);
  const list = await n.api('GET', '/v1/instances?name=ghost');
  assert.equal(list.items[0]?.['status'], 'error', 'nothing named ghost');
});

test('remove deletes; --all leaves nothing', async () => {
  const r = await hangar('instance', 'rm', 'web');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^web removed \(running\)\n$/);
  const all = await hangar('instance', 'remove', '--all');
  assert.equal(all.code, 0, all.err);
  assert.match(all.out, /^x removed/);
  const json = await hangar('instance', 'list', '-o', 'json');
  assert.deepEqual(JSON.parse(json.out), []);
  assert.deepEqual(await n.node.runtime.list(), []);
});
