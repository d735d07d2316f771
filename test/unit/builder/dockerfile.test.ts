/** FROM lines: what hangar can build from offline, and the runtime names it accepts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { instructions, scanFroms } from '../../../src/builder/dockerfile.js';
import { resolveRuntimeName } from '../../../src/builder/base-images.js';

describe('Dockerfile FROM scanning', () => {
  it('classifies scratch, stages, runtimes and loopback registry images', () => {
    const froms = scanFroms(
      [
        'ARG GO=go',
        'FROM runtimes/${GO} AS build',
        'RUN go build \\',
        '  -o /x .',
        'FROM 127.0.0.1:5000/runtimes/python3:latest AS py',
        'FROM localhost:5000/team/base:v1',
        'FROM build',
        'FROM scratch',
        'COPY --from=build /x /x',
      ].join('\n'),
    );
    assert.deepEqual(
      froms.map((f) => [f.line, f.base]),
      [
        [2, { kind: 'runtime', runtime: 'go', ref: 'runtimes/go' }],
        [5, { kind: 'registry', ref: '127.0.0.1:5000/runtimes/python3:latest', runtime: 'python3' }],
        [6, { kind: 'registry', ref: 'localhost:5000/team/base:v1' }],
        [7, { kind: 'stage', stage: 'build' }],
        [8, { kind: 'scratch' }],
      ],
    );
  });

  it('refuses images it cannot get offline, with the line and the fix', () => {
    assert.throws(() => scanFroms('# comment\n\nFROM debian:bookworm\n'), /^HangarError: Dockerfile:3: FROM debian:bookworm: hangar builds offline .*use FROM scratch/);
    assert.throws(() => scanFroms('FROM runtimes/nginx\n'), /runtime 'nginx' is not in hangar's catalog \(use one of: base, python3, node, go\)/);
    assert.throws(() => scanFroms('FROM $BASE\n'), /Dockerfile:1: FROM uses \$BASE, which has no value/);
    assert.throws(() => scanFroms('RUN true\n'), /Dockerfile: has no FROM instruction/);
  });

  it('--build-arg values override ARG defaults', () => {
    assert.equal(scanFroms('ARG RT=go\nFROM runtimes/$RT\n', { RT: 'node' })[0]!.base.kind, 'runtime');
    assert.deepEqual(scanFroms('ARG RT=go\nFROM runtimes/$RT\n', { RT: 'node' })[0]!.image, 'runtimes/node');
  });

  it('joins continuation lines and honours the escape directive', () => {
    assert.deepEqual(instructions('# escape=`\nFROM scratch\nCOPY a `\n  b /\n'), [
      { line: 2, text: 'FROM scratch' },
      { line: 3, text: 'COPY a  b /' },
    ]);
  });
});

describe('runtime names', () => {
  it('maps catalog names, aliases and registry references', () => {
    assert.deepEqual(resolveRuntimeName('python3'), { name: 'python3' });
    assert.deepEqual(resolveRuntimeName('runtimes/go:latest'), { name: 'go' });
    assert.deepEqual(resolveRuntimeName('127.0.0.1:5000/runtimes/node'), { name: 'node' });
    assert.equal(resolveRuntimeName('base-compat:latest').name, 'base');
    const py = resolveRuntimeName('index.unikraft.io/official/python:3.12');
    assert.equal(py.name, 'python3');
    assert.match(py.note ?? '', /hangar's runtimes\/python3:latest/);
  });
  it('refuses anything else with the list of runtimes', () => {
    for (const bad of ['nginx', 'someorg/python3', 'runtimes/ruby']) {
      assert.throws(() => resolveRuntimeName(bad), (e: Error) => e.message === `runtime '${bad}' is not in hangar's catalog (use one of: base, python3, node, go)`);
    }
  });
});
