import { HangarError } from '../../lib/errors.js';
import { NodeError, type CallOptions, type Entry, type Reply } from '../client.js';
import { cell, outputFormat, render, renderFields, renderTable, type Column, type OutputFormat } from '../output.js';
import { verb, type Ctx, type VerbSpec } from '../spec.js';
import { refOf, refQuery, succeeded } from './instance-view.js';

/** A platform resource the CLI manages with the same list/get/remove verbs (volumes, services). */
export interface Resource {
  /** Singular noun for messages and commands: `volume`. */
  noun: string;
  /** Plural for messages: `volumes`. */
  plural: string;
  /** API path: `/v1/volumes`. */
  path: string;
  columns: Column[];
  fields: (row: Record<string, unknown>) => Array<[string, string]>;
}

/**
 * Calls the node for a resource. A node without the endpoint (404 "no such
 * endpoint") gets one line saying so, instead of a raw 404.
 */
export async function resourceCall(ctx: Ctx, r: Resource, method: string, path: string, body?: unknown, o: CallOptions = {}): Promise<Reply> {
  const node = ctx.node();
  try {
    return await node.call(method, path, body, { signal: ctx.io.signal, ...o });
  } catch (e) {
    if (e instanceof NodeError && e.http === 404 && /no such endpoint/.test(e.message)) {
      throw new HangarError('failed_precondition', `${r.noun}: the node at ${node.baseUrl} does not support ${r.plural} yet (no ${e.endpoint}); nothing was changed`);
    }
    throw e;
  }
}

/** Sends a change and prints one line per resource it changed (or the entries, for -o json|yaml). */
export async function change(ctx: Ctx, r: Resource, what: string, format: OutputFormat, call: [method: string, path: string, body: unknown], line: (row: Entry) => string): Promise<void> {
  const rows = succeeded(ctx, what, await resourceCall(ctx, r, ...call));
  ctx.io.out(render(format, rows, () => rows.map((row) => `${line(row)}\n`).join('')));
}

const names = (a: string | string[] | undefined): string[] => (Array.isArray(a) ? a : a === undefined ? [] : [a]);

/** `list`, `get` and `remove` for a resource. */
export function crudVerbs(r: Resource): VerbSpec[] {
  return [
    verb<{ output: string }>({
      name: 'list',
      aliases: ['ls'],
      summary: `List ${r.plural}`,
      output: true,
      examples: [`hangar ${r.noun} list`, `hangar ${r.noun} list -o json`],
      async run(ctx, _a, o) {
        const format = outputFormat(o.output);
        const { entries } = await resourceCall(ctx, r, 'GET', r.path);
        ctx.io.out(render(format, entries, () => renderTable(entries, r.columns, ctx.io.columns)));
      },
    }),
    verb<{ output: string }>({
      name: 'get',
      aliases: ['show', 'inspect'],
      summary: `Show ${r.plural} in detail`,
      args: [{ name: 'names', description: 'names or UUIDs', required: true, variadic: true }],
      output: true,
      examples: [`hangar ${r.noun} get my-${r.noun}`],
      async run(ctx, a, o) {
        const format = outputFormat(o.output);
        const rows = succeeded(ctx, `${r.noun} get`, await resourceCall(ctx, r, 'GET', `${r.path}?${refQuery(names(a['names']))}`));
        ctx.io.out(render(format, rows, () => rows.map((row) => renderFields(r.fields(row))).join('\n')));
      },
    }),
    verb<{ output: string }>({
      name: 'remove',
      aliases: ['rm', 'delete'],
      summary: `Delete ${r.plural}`,
      args: [{ name: 'names', description: 'names or UUIDs', required: true, variadic: true }],
      output: true,
      examples: [`hangar ${r.noun} remove my-${r.noun}`],
      async run(ctx, a, o) {
        await change(ctx, r, `${r.noun} remove`, outputFormat(o.output), ['DELETE', r.path, names(a['names']).map(refOf)], (row) => `${r.noun} ${cell(row['name'] ?? row['uuid'])} removed`);
      },
    }),
  ];
}
