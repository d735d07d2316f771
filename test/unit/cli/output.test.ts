import assert from 'node:assert/strict';
import { test } from 'node:test';
import YAML from 'yaml';
import { age, bytes, mib, render, renderTable, truncate } from '../../../src/cli/output.js';
import { INSTANCE_COLUMNS, instanceFields } from '../../../src/cli/commands/instance-view.js';

const NOW = Date.parse('2025-01-01T12:00:00Z');
const rows = [
  { name: 'hello', state: 'running', image: 'hello:latest', private_ip: '10.88.0.2', memory_mb: 128, created_at: '2025-01-01T11:59:30Z', uuid: '3f2a1c9e-0b7d-4c55-9e61-1a2b3c4d5e6f' },
  {
    name: 'a-rather-long-instance-name-for-the-table',
    state: 'stopped',
    image: 'registry.example.com/some-team/an-image-with-a-long-name:v1.2.3',
    private_ip: '10.88.0.254',
    memory_mb: 2048,
    created_at: '2024-12-30T12:00:00Z',
    uuid: '9d3e0a4b-1111-4222-8333-944455556666',
  },
];

test('truncate cuts at the end or the middle with one ellipsis', () => {
  assert.equal(truncate('abcdef', 10), 'abcdef');
  assert.equal(truncate('abcdefghij', 5), 'abcd…');
  assert.equal(truncate('registry/image:tag', 9, 'middle'), 'regi…:tag');
  assert.equal(truncate('registry/image:tag', 9), 'registry…');
  assert.equal(truncate('abc', 1), 'a');
});

test('the instance table fits 80 columns (snapshot)', () => {
  const cols = INSTANCE_COLUMNS.map((c) => (c.header === 'CREATED' ? { ...c, get: (r: Record<string, unknown>) => age(r['created_at'], NOW) } : c));
  const out = renderTable(rows, cols, 80);
  for (const line of out.split('\n')) assert.ok(line.length <= 80, `${line.length}: ${line}`);
  assert.equal(
    out,
    [
      'NAME           STATE    IMAGE           PRIVATE IP   MEMORY   CREATED  UUID',
      'hello          running  hello:latest    10.88.0.2    128 MiB  30s      3f2a1c9e…',
      'a-rather-lon…  stopped  regist…:v1.2.3  10.88.0.254  2 GiB    2d       9d3e0a4b…',
      '',
    ].join('\n'),
  );
});

test('a narrow table keeps short columns whole and a wide terminal shows everything', () => {
  const wide = renderTable(rows, INSTANCE_COLUMNS, 200);
  assert.ok(wide.includes('9d3e0a4b-1111-4222-8333-944455556666'));
  assert.ok(wide.includes('registry.example.com/some-team/an-image-with-a-long-name:v1.2.3'));
  const short = renderTable([rows[0]!], INSTANCE_COLUMNS, 80);
  assert.ok(short.split('\n').every((l) => l.length <= 80));
  assert.equal(renderTable([], INSTANCE_COLUMNS, 80).trimEnd().split('\n').length, 1, 'header only');
});

test('json and yaml print the rows as they are; yaml of nothing is []', () => {
  assert.deepEqual(JSON.parse(render('json', rows, () => '')), rows);
  assert.deepEqual(YAML.parse(render('yaml', rows, () => '')), rows);
  assert.equal(render('yaml', [], () => ''), '[]\n');
  assert.equal(render('table', rows, () => 'T\n'), 'T\n');
});

test('get fields skip empty values and align', () => {
  const text = instanceFields({ ...rows[0]!, env: { A: '1' }, args: ['/hello', '--port', '9000'] });
  assert.match(text, /^name:         hello$/m);
  assert.match(text, /^env:          A=1$/m);
  assert.match(text, /^args:         \/hello --port 9000$/m);
  assert.ok(!/^stopped:/m.test(text));
});

test('units: MiB, bytes, age', () => {
  assert.equal(mib(128), '128 MiB');
  assert.equal(mib(1536), '1.5 GiB');
  assert.equal(mib(undefined), '');
  assert.equal(bytes(512), '512 B');
  assert.equal(bytes(1536), '1.5 KiB');
  assert.equal(age('2025-01-01T11:00:00Z', NOW), '1h');
  assert.equal(age(undefined, NOW), '');
});

test('the port deploy suggests: ExposedPorts, else PORT= in the env', async () => {
  const { exposedPorts } = await import('../../../src/cli/pipeline.js');
  assert.deepEqual(exposedPorts({ ExposedPorts: { '8080/tcp': {} } }), [8080]);
  assert.deepEqual(exposedPorts({ Env: ['PATH=/bin', 'PORT=9000'] }), [9000]);
  assert.deepEqual(exposedPorts({ Env: ['PORT=x'] }), []);
  assert.deepEqual(exposedPorts({}), []);
});

test('logs --tail keeps the last lines; deploy names come from folders', async () => {
  const { lastLines } = await import('../../../src/cli/commands/instance-logs.js');
  const { labelOf } = await import('../../../src/cli/commands/deploy.js');
  assert.equal(lastLines('a\nb\nc\n', 2, false), 'b\nc\n');
  assert.equal(lastLines('tial\nb\nc', 5, true), 'b\nc', 'a cut first line is dropped');
  assert.equal(lastLines('a\nb\n', 0, false), '');
  assert.equal(labelOf('My App_2'), 'my-app-2');
  assert.equal(labelOf('___'), 'app');
});
