import { cell, mib, outputFormat, render, renderTable } from '../output.js';
import { verb } from '../spec.js';

type Counts = Record<string, unknown>;

const ROWS: Array<[string, string, (v: unknown) => string]> = [
  ['instances', 'instances', cell],
  ['live instances', 'live_instances', cell],
  ['live vCPUs', 'live_vcpus', cell],
  ['live memory', 'live_memory_mb', mib],
  ['volumes', 'volumes', cell],
  ['services', 'services', cell],
];

export const quotas = verb<{ output: string }>({
  name: 'quotas',
  aliases: ['quota', 'q'],
  summary: 'Show what you use and may use on the node',
  output: true,
  examples: ['hangar quotas', 'hangar quotas -o json'],
  async run(ctx, _a, o) {
    const format = outputFormat(o.output);
    const { entries } = await ctx.node().call('GET', '/v1/users/quotas', undefined, { signal: ctx.io.signal });
    ctx.io.out(
      render(format, entries, () =>
        entries
          .map((e) => {
            const used = (e['used'] ?? {}) as Counts;
            const hard = (e['hard'] ?? {}) as Counts;
            const lim = (e['limits'] ?? {}) as Counts;
            const rows = ROWS.map(([label, key, fmt]) => ({ resource: label, used: fmt(used[key]), limit: fmt(hard[key]) }));
            const table = renderTable(rows, [
              { header: 'RESOURCE', get: (r) => cell(r['resource']) },
              { header: 'USED', get: (r) => cell(r['used']) },
              { header: 'LIMIT', get: (r) => cell(r['limit']) },
            ], ctx.io.columns);
            return `user ${cell(e['uuid'])}\n${table}per instance: memory ${mib(lim['min_memory_mb'])} to ${mib(lim['max_memory_mb'])}, up to ${cell(lim['max_vcpus'])} vCPUs\n`;
          })
          .join('\n'),
      ),
    );
  },
});
