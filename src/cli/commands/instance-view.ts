import { isUuid } from '../../lib/ids.js';
import { entryMessage, isFailed, type Entry, type Reply } from '../client.js';
import { age, cell, col, mib, render, renderFields, renderTable, type Column, type OutputFormat } from '../output.js';
import type { Ctx } from '../spec.js';

/** `{uuid}` for a UUID, `{name}` otherwise, as the bulk endpoints take them. */
export const refOf = (s: string): { uuid: string } | { name: string } => (isUuid(s) ? { uuid: s } : { name: s });

/** `?name=a&uuid=b` for the GET endpoints. */
export const refQuery = (refs: readonly string[]): string =>
  refs.map((r) => (isUuid(r) ? `uuid=${encodeURIComponent(r)}` : `name=${encodeURIComponent(r)}`)).join('&');

/** Reports each failed entry (`<noun verb>: <what the node said>`) and returns the ones that worked. */
export function succeeded(ctx: Ctx, what: string, reply: Reply): Entry[] {
  for (const e of reply.entries.filter(isFailed)) ctx.fail(`${what}: ${entryMessage(e)}${e['error'] === 8 ? ` (\`hangar ${what.split(' ')[0]} list\` shows what there is)` : ''}`);
  return reply.entries.filter((e) => !isFailed(e));
}

export const INSTANCE_COLUMNS: Column[] = [
  col('NAME', 'name', { min: 10, give: 1 }),
  col('STATE', 'state', { min: 5 }),
  col('IMAGE', 'image', { min: 10, cut: 'middle', give: 1 }),
  col('PRIVATE IP', 'private_ip', { min: 15 }),
  { header: 'MEMORY', get: (r) => mib(r['memory_mb']), min: 7 },
  { header: 'CREATED', get: (r) => age(r['created_at']), min: 7 },
  col('UUID', 'uuid', { min: 9, give: 2 }),
];

export const instanceTable = (rows: Entry[], width: number): string => renderTable(rows, INSTANCE_COLUMNS, width);

const us = (v: unknown): string => (typeof v === 'number' ? (v >= 1000 ? `${(v / 1000).toFixed(1)} ms` : `${v} µs`) : '');

/** What an image field holds: a reference, or an ImageSpec object (its name or URL). */
const imageOf = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return cell(o['name'] ?? o['url'] ?? o['digest'] ?? v);
  }
  return cell(v);
};

/** `name (image or inline) at /path` for each ROM, joined by `, `: what the instance was given and where it finds it. */
export function romsText(roms: unknown): string {
  if (!Array.isArray(roms)) return '';
  return roms
    .map((r: unknown) => {
      const o = r && typeof r === 'object' ? (r as Record<string, unknown>) : {};
      const src = o['image'] !== undefined && o['image'] !== null ? imageOf(o['image']) : 'inline';
      const at = typeof o['at'] === 'string' && o['at'] !== '' ? ` at ${o['at']}` : '';
      return `${cell(o['name'])} (${src})${at}`;
    })
    .join(', ');
}

/** The `get` view: one block of `key: value` lines per instance. */
export function instanceFields(r: Entry): string {
  const env = r['env'] && typeof r['env'] === 'object' ? Object.entries(r['env'] as Record<string, unknown>).map(([k, v]) => `${k}=${cell(v)}`).join(' ') : '';
  const args = Array.isArray(r['args']) ? (r['args'] as unknown[]).map(cell).join(' ') : '';
  return renderFields([
    ['name', cell(r['name'])],
    ['uuid', cell(r['uuid'])],
    ['state', cell(r['state'])],
    ['image', cell(r['image'])],
    ['memory', mib(r['memory_mb'])],
    ['vcpus', cell(r['vcpus'])],
    ['private ip', cell(r['private_ip'])],
    ['private fqdn', cell(r['private_fqdn'])],
    ['args', args],
    ['env', env],
    ['roms', romsText(r['roms'])],
    ['restart', cell(r['restart_policy'])],
    ['created', r['created_at'] ? `${cell(r['created_at'])} (${age(r['created_at'])} ago)` : ''],
    ['started', cell(r['started_at'])],
    ['stopped', cell(r['stopped_at'])],
    ['boot time', us(r['boot_time_us'])],
    ['exit code', cell(r['exit_code'])],
    ['stop reason', cell(r['stop_reason'])],
  ]);
}

/** Prints instances as a table (or `get` blocks), JSON or YAML. */
export function printInstances(ctx: Ctx, format: OutputFormat, rows: Entry[], view: 'table' | 'fields' = 'table'): void {
  ctx.io.out(render(format, rows, () => (view === 'fields' ? rows.map(instanceFields).join('\n') : instanceTable(rows, ctx.io.columns))));
}

/** Prints the result of a state change (`web: running → stopped`) or the raw entries. */
export function printTransitions(ctx: Ctx, format: OutputFormat, rows: Entry[], verbPast: string): void {
  ctx.io.out(
    render(format, rows, () =>
      rows.map((r) => `${cell(r['name'] ?? r['uuid'])} ${verbPast}${r['previous_state'] ? ` (${cell(r['previous_state'])}${r['state'] ? ` → ${cell(r['state'])}` : ''})` : ''}\n`).join(''),
    ),
  );
}
