/**
 * `hangar deploy` end to end: each example folder → build → push to the
 * node's /v2/ → instance → HTTP answer from inside the sandbox → `hangar
 * instance remove` → nothing left. And the bad input of deploy: one line,
 * non-zero exit, nothing on the node.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HangarError } from '../../../src/lib/errors.js';
import { defaultPieces, type Pieces } from '../../../src/cli/pipeline.js';
import { eventually, httpGet, startTestNode, type TestNode } from '../../helpers/node.js';
import { runCli, tempHome } from '../../helpers/cli.js';
import { BUILD_CACHE, EXAMPLES } from '../builder/cache.js';

let n: TestNode;
let env: NodeJS.ProcessEnv;
const scratch: string[] = [];
const hangar = (argv: string[], pieces?: () => Pieces) => runCli(argv, env, {}, pieces ? { pieces } : {});

before(async () => {
  n = await startTestNode();
  const HOME = tempHome();
  scratch.push(HOME);
  env = { HOME, UKC_METRO: n.url, UKC_TOKEN: n.token, HANGAR_BUILD_CACHE: BUILD_CACHE };
});
after(async () => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
  await n?.close();
});

const EXPECT: Record<string, RegExp> = {
  hello: /^Hello from hangar! \(hello-cli\)/,
  'python-http': /^Hello from python-http!/,
  'node-http': /^Hello from node-http!/,
  'go-http': /^Hello from go-http!/,
};

for (const [ex, answer] of Object.entries(EXPECT)) {
  test(`deploy examples/${ex}: build, push, run, answer over HTTP, remove`, { timeout: 900_000 }, async () => {
    const name = ex === 'hello' ? 'hello-cli' : ex;
    const r = await hangar(['deploy', join(EXAMPLES, ex), '-n', name, '-M', '256Mi', '-p', '443:8080/http+tls', '-w', '30s']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`^build ${name}:latest…$`, 'm'));
    assert.match(r.err, new RegExp(`^push ${name}:latest: ${name}:latest sha256:`, 'm'));
    // The node takes the ports as the instance's (ephemeral) service group.
    assert.doesNotMatch(r.err, /are checked but not served/);
    const m = new RegExp(`^${name} is running at (\\S+); try:\\n  curl http://(\\S+):8080/\\n`, 'm').exec(r.out);
    assert.ok(m, r.out);
    assert.equal(m[1], m[2]);
    for (const line of r.out.split('\n')) assert.ok(line.length <= 80, line);
    const body = await eventually(async () => {
      const res = await httpGet(m[1]!, 8080, '/', 2000);
      return res.status === 200 ? res.body : undefined;
    }, 20_000, 200);
    assert.match(body, answer);
    const got = await hangar(['instance', 'get', name, '-o', 'json']);
    const sg = (JSON.parse(got.out) as Array<Record<string, unknown>>)[0]?.['service_group'] as Record<string, unknown> | undefined;
    assert.ok(sg?.['uuid'], got.out);
    const rm = await hangar(['instance', 'remove', name]);
    assert.equal(rm.code, 0, rm.err);
    const left = await hangar(['instance', 'list', '-o', 'json']);
    assert.deepEqual(JSON.parse(left.out), []);
  });
}

/** Stand-ins that fail the test if deploy gets as far as building. */
const mustNotBuild = (): Pieces => ({
  build: async () => assert.fail('built although the input was bad'),
  push: async () => assert.fail('pushed although the input was bad'),
});

test('deploy refuses bad input before building: one line, exit 2, nothing on the node', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'hangar-empty-'));
  scratch.push(empty);
  const hello = join(EXAMPLES, 'hello');
  const cases: Array<[string[], RegExp]> = [
    [['deploy', empty], new RegExp(`^hangar: no Kraftfile in ${empty}; add one`)],
    [['deploy', join(empty, 'nope')], /^hangar: .*nope: no such folder/],
    [['deploy', hello, '-p', '443:http'], /^hangar: -p 443:http: expected <public>:<dest>\[\/<handlers>\], e\.g\. 443:8080\/http\+tls$/],
    [['deploy', hello, '-M', '1Zi'], /^hangar: -M 1Zi: unknown unit/],
    [['deploy', hello, '-n', '-bad-'], /^hangar: --name -bad-: expected 1-63 letters/],
    [['deploy', hello, '--scale-to-zero', 'policy=on,cooldown-time=x', '-p', '443:8080'], /cooldown-time=.*expected a duration/],
  ];
  for (const [argv, want] of cases) {
    const r = await hangar(argv, mustNotBuild);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err.trimEnd(), want);
    assert.equal(r.err.trimEnd().split('\n').length, 1, r.err);
  }
  const bad = await runCli(['deploy', hello], { ...env, UKC_TOKEN: 'wrong' }, {}, { pieces: mustNotBuild });
  assert.equal(bad.code, 4);
  assert.match(bad.err, /refused the token/);
  const list = await hangar(['instance', 'list', '-o', 'json']);
  assert.deepEqual(JSON.parse(list.out), []);
});

test('a broken Dockerfile: the build error in one line and the build\'s last output, nothing on the node', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-broken-'));
  scratch.push(dir);
  writeFileSync(join(dir, 'Kraftfile'), 'spec: v0.7\nname: broken\nrootfs: ./Dockerfile\ncmd: ["/nothing"]\n');
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY missing-file /x\n');
  const r = await hangar(['deploy', dir, '-n', 'broken']);
  assert.notEqual(r.code, 0);
  const last = r.err.trimEnd().split('\n').pop()!;
  assert.match(last, /^hangar: .*missing-file/);
  const list = await hangar(['instance', 'list', '-o', 'json']);
  assert.deepEqual(JSON.parse(list.out), []);
});

test('when create fails after the push, the one line says why and no instance is left', async () => {
  const first = await hangar(['instance', 'create', '--image', 'hello:latest', '-n', 'taken', '--no-start']);
  assert.equal(first.code, 0, first.err);
  const pieces = (): Pieces => ({ ...defaultPieces(), build: async () => ({ path: join(EXAMPLES, '..', 'build', 'images', 'hello.oci.tar'), exposedPorts: [8080], notes: [] }) });
  const r = await hangar(['deploy', join(EXAMPLES, 'hello'), '-n', 'taken'], pieces);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err.trimEnd().split('\n').pop()!, /^hangar: .*taken.*already exists/);
  const list = await hangar(['instance', 'list', '-o', 'json']);
  assert.deepEqual((JSON.parse(list.out) as Array<{ name: string }>).map((i) => i.name), ['taken']);
  await hangar(['instance', 'rm', 'taken']);
});

test('a failing build stand-in: its HangarError is the one line', async () => {
  const pieces = (): Pieces => ({ ...defaultPieces(), build: async () => { throw new HangarError('invalid_argument', "runtime 'cobol' is not in hangar's catalog (base, python3, node, go)"); } });
  const r = await hangar(['deploy', join(EXAMPLES, 'hello'), '-n', 'x'], pieces);
  assert.equal(r.code, 2);
  assert.equal(r.err.trimEnd().split('\n').pop(), "hangar: runtime 'cobol' is not in hangar's catalog (base, python3, node, go)");
});
