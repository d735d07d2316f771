import { HangarError } from '../../lib/errors.js';
import { age, cell, col, mib, outputFormat } from '../output.js';
import { checkMountPath } from '../parse/kv-spec.js';
import { parseMemory } from '../parse/units.js';
import { group, verb } from '../spec.js';
import { refOf } from './instance-view.js';
import { change, crudVerbs, type Resource } from './resource.js';

const VOLUMES: Resource = {
  noun: 'volume',
  plural: 'volumes',
  path: '/v1/volumes',
  columns: [
    col('NAME', 'name', { min: 10 }),
    col('STATE', 'state', { min: 5 }),
    { header: 'SIZE', get: (r) => mib(r['size_mb']), min: 7 },
    { header: 'ATTACHED TO', get: (r) => (Array.isArray(r['attached_to']) ? (r['attached_to'] as Array<Record<string, unknown>>).map((i) => cell(i['name'] ?? i['uuid'])).join(',') : ''), min: 11 },
    { header: 'CREATED', get: (r) => age(r['created_at']), min: 7 },
    col('UUID', 'uuid', { min: 8 }),
  ],
  fields: (r) => [
    ['name', cell(r['name'])],
    ['uuid', cell(r['uuid'])],
    ['state', cell(r['state'])],
    ['size', mib(r['size_mb'])],
    ['attached to', cell(r['attached_to'])],
    ['created', cell(r['created_at'])],
  ],
};

const create = verb<{ name?: string; size: string; output: string }>({
  name: 'create',
  summary: 'Create a volume',
  options: [
    { flags: '-n, --name <name>', description: 'volume name' },
    { flags: '-s, --size <size>', description: 'size: 512Mi, 1Gi (a bare number is MiB)' },
  ],
  output: true,
  examples: ['hangar volume create -n data -s 1Gi'],
  async run(ctx, _a, o) {
    const format = outputFormat(o.output);
    if (o.size === undefined) throw new HangarError('invalid_argument', 'volume create: give a size, e.g. -s 1Gi', { field: '--size' });
    const body = { ...(o.name ? { name: o.name } : {}), size_mb: parseMemory(o.size, '--size') };
    await change(ctx, VOLUMES, 'volume create', format, ['POST', VOLUMES.path, body], (r) => `volume ${cell(r['name'])} created (${cell(r['uuid'])})`);
  },
});

const attach = verb<{ to?: string; at?: string; readOnly?: boolean; output: string }>({
  name: 'attach',
  summary: 'Attach a volume to an instance',
  args: [{ name: 'volume', description: 'name or UUID', required: true }],
  options: [
    { flags: '--to <instance>', description: 'instance to attach to' },
    { flags: '--at <path>', description: 'mount point inside the instance' },
    { flags: '-r, --read-only', description: 'mount read-only' },
  ],
  output: true,
  examples: ['hangar volume attach data --to web --at /data'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    if (!o.to || !o.at) throw new HangarError('invalid_argument', 'volume attach: give --to <instance> and --at <path>', { field: o.to ? '--at' : '--to' });
    checkMountPath('--at', o.at, o.at);
    const body = [{ ...refOf(String(a['volume'])), attach_to: refOf(o.to), at: o.at, ...(o.readOnly ? { readonly: true } : {}) }];
    await change(ctx, VOLUMES, 'volume attach', format, ['PUT', `${VOLUMES.path}/attach`, body], (r) => `volume ${cell(r['name'])} attached to ${o.to} at ${o.at}`);
  },
});

const detach = verb<{ from?: string; output: string }>({
  name: 'detach',
  summary: 'Detach a volume (from one instance, or from all)',
  args: [{ name: 'volume', description: 'name or UUID', required: true }],
  options: [{ flags: '--from <instance>', description: 'only from this instance' }],
  output: true,
  examples: ['hangar volume detach data', 'hangar volume detach data --from web'],
  async run(ctx, a, o) {
    const body = [{ ...refOf(String(a['volume'])), ...(o.from ? { from: refOf(o.from) } : {}) }];
    await change(ctx, VOLUMES, 'volume detach', outputFormat(o.output), ['PUT', `${VOLUMES.path}/detach`, body], (r) => `volume ${cell(r['name'])} detached`);
  },
});

export const volumeGroup = group({
  name: 'volume',
  aliases: ['volumes', 'vol'],
  summary: 'Manage persistent volumes (when the node supports them)',
  children: [...crudVerbs(VOLUMES), create, attach, detach],
  examples: ['hangar volume create -n data -s 1Gi', 'hangar volume attach data --to web --at /data'],
});
