import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildProgram, main } from '../../../src/cli/main.js';
import { withDefaults } from '../../../src/cli/io.js';
import { walk } from '../../../src/cli/spec.js';
import { completionTable } from '../../../src/cli/commands/completion.js';

const run = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s), env: { HOME: '/nonexistent' }, tty: false, columns: 80 });
  return { code, out, err };
};

const tree = () => walk(buildProgram(withDefaults({ out: () => {}, err: () => {} })));

test('the command tree has the verbs users know', () => {
  const paths = new Set(tree().map((c) => c.path.slice(1).join(' ')));
  for (const p of [
    'login', 'logout', 'deploy', 'build', 'pkg', 'quotas', 'completion', 'node',
    'instance create', 'instance list', 'instance get', 'instance logs', 'instance start', 'instance stop', 'instance suspend', 'instance remove', 'instance wait',
    'image', 'volume list', 'volume create', 'service list', 'service create',
  ]) assert.ok(paths.has(p), `missing: ${p}`);
});

test('--help works on every command, fits 80 columns, and every verb of ours has examples', async () => {
  for (const { path, cmd } of tree()) {
    if (cmd.name() === 'help') continue;
    const r = await run([...path.slice(1), '--help']);
    assert.equal(r.code, 0, `${path.join(' ')}: ${r.err}`);
    assert.match(r.out, new RegExp(`^Usage: ${path.join(' ')}`), path.join(' '));
    for (const line of r.out.split('\n')) assert.ok(line.length <= 80, `${path.join(' ')} help line of ${line.length}: ${line}`);
    const ours = path[1] !== 'image';
    if (ours && cmd.commands.length === 0) assert.match(r.out, /\nExamples:\n {2}.*hangar /, `${path.join(' ')} has no examples`);
  }
});

test('aliases reach the same verbs', async () => {
  for (const argv of [['instances', 'ls', '--help'], ['instance', 'rm', '--help'], ['vm', 'show', '--help'], ['vol', 'ls', '--help'], ['svc', 'ls', '--help'], ['quota', '--help']]) {
    const r = await run(argv);
    assert.equal(r.code, 0, argv.join(' '));
  }
});

test('usage errors are one line with where to look, exit 2', async () => {
  const cases: Array<[string[], string]> = [
    [['instance', 'lst'], "hangar: unknown command 'lst' (Did you mean one of list, ls?) (see `hangar instance --help`)\n"],
    [['instance', 'list', '--bogus'], "hangar: unknown option '--bogus' (see `hangar instance list --help`)\n"],
    [['instance', 'get'], "hangar: missing required argument 'instances' (see `hangar instance get --help`)\n"],
    [['instance', 'list', '-o', 'xml'], "hangar: option '-o, --output <format>' argument 'xml' is invalid. Allowed choices are table, json, yaml. (see `hangar instance list --help`)\n"],
  ];
  for (const [argv, err] of cases) {
    const r = await run(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.err, err);
  }
});

test('completion bash lists the verbs and completes in a real bash', async () => {
  const r = await run(['completion', 'bash']);
  assert.equal(r.code, 0, r.err);
  for (const w of ['instance', 'deploy', 'login', 'create', 'logs', '--memory']) assert.ok(r.out.includes(w), w);
  const table = completionTable(buildProgram(withDefaults({ out: () => {}, err: () => {} })));
  assert.ok(table.get('hangar instances')?.includes('create'));
  const dir = mkdtempSync(join(tmpdir(), 'hangar-compl-'));
  try {
    const script = join(dir, 'c.bash');
    writeFileSync(script, r.out);
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const probe = `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _hangar_complete; echo "\${COMPREPLY[*]}"`;
      const res = spawnSync('bash', ['-c', probe], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(res.status, 0, res.stderr);
      return res.stdout.trim().split(/\s+/);
    };
    assert.deepEqual(complete('hangar inst'), ['instance', 'instances', 'inst']);
    assert.ok(complete('hangar instance ').includes('logs'));
    assert.deepEqual(complete('hangar instance create --me'), ['--memory']);
    assert.deepEqual(complete('hangar vm l'), ['list', 'ls', 'logs', 'log']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const zsh = await run(['completion', 'zsh']);
  assert.match(zsh.out, /^#compdef hangar\n/);
  const fish = await run(['completion', 'fish']);
  assert.equal(fish.code, 2);
  assert.equal(fish.err, 'hangar: completion fish: expected bash or zsh\n');
});
