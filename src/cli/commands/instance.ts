import { HangarError } from '../../lib/errors.js';
import { outputFormat } from '../output.js';
import { parseDuration } from '../parse/units.js';
import { group, verb, type Ctx, type VerbSpec } from '../spec.js';
import { CREATE_OPTIONS, createInstances, planCreate, type CreateFlags } from './instance-create.js';
import { logsVerb } from './instance-logs.js';
import { printInstances, printTransitions, refOf, refQuery, succeeded } from './instance-view.js';

type Out = { output: string };
const names = (a: string | string[] | undefined): string[] => (Array.isArray(a) ? a : a === undefined ? [] : [a]);

const create = verb<CreateFlags & Out & { image?: string }>({
  name: 'create',
  aliases: ['new'],
  summary: 'Create an instance from an image and start it',
  description: 'The image is --image or the first argument; the other arguments are the whole argv of the app (use -- before flags meant for the app).',
  args: [{ name: 'args', description: '[image] then the app\'s argv', variadic: true }],
  options: [{ flags: '--image <ref>', description: 'image reference, e.g. hello:latest' }, ...CREATE_OPTIONS],
  output: true,
  examples: [
    'hangar instance create --image hello:latest -n web',
    'hangar instance create hello:latest -n web -M 256Mi -e GREETING=hi',
    'hangar instance create hello:latest -n web -p 443:8080/http+tls',
    'hangar instance create hello:latest -n alt -- /hello --port 9000',
    'hangar instance create base:latest -n fn1 --rom image=rom1:latest,at=/rom',
    'hangar instance create base:latest -n fn2 --rom dir=./rom2/fs,at=/rom',
  ],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const rest = names(a['args']);
    const image = o.image ?? rest.shift();
    if (!image) throw new HangarError('invalid_argument', 'instance create: no image; pass --image <ref> (e.g. --image hello:latest); `hangar image list` shows what the node has', { field: '--image' });
    const plan = planCreate(ctx, o, image, rest);
    const made = await createInstances(ctx, plan);
    printInstances(ctx, format, made);
  },
});

const list = verb<Out>({
  name: 'list',
  aliases: ['ls'],
  summary: 'List instances',
  output: true,
  examples: ['hangar instance list', 'hangar instance ls -o json'],
  async run(ctx, _a, o) {
    const format = outputFormat(o.output);
    const { entries } = await ctx.node().call('GET', '/v1/instances', undefined, { signal: ctx.io.signal });
    printInstances(ctx, format, entries);
  },
});

const get = verb<Out>({
  name: 'get',
  aliases: ['show', 'inspect'],
  summary: 'Show instances in detail',
  args: [{ name: 'instances', description: 'names or UUIDs', required: true, variadic: true }],
  output: true,
  examples: ['hangar instance get web', 'hangar instance get web -o yaml'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const reply = await ctx.node().call('GET', `/v1/instances?${refQuery(names(a['instances']))}`, undefined, { signal: ctx.io.signal });
    printInstances(ctx, format, succeeded(ctx, 'instance get', reply), 'fields');
  },
});

/** PUT /v1/instances/<verb> for each named instance. */
async function transition(ctx: Ctx, verbName: string, refs: string[], extra: Record<string, unknown>, timeoutMs?: number) {
  const reply = await ctx.node().call('PUT', `/v1/instances/${verbName}`, refs.map((r) => ({ ...refOf(r), ...extra })), { ...(timeoutMs ? { timeoutMs } : {}), signal: ctx.io.signal });
  return succeeded(ctx, `instance ${verbName}`, reply);
}

/** GET /v1/instances/wait until each instance is in `state`. */
async function waitFor(ctx: Ctx, refs: string[], state: string, ms: number) {
  const q = `${refQuery(refs)}&${refs.map(() => `state=${state}&timeout_ms=${ms}`).join('&')}`;
  const reply = await ctx.node().call('GET', `/v1/instances/wait?${q}`, undefined, { timeoutMs: ms + 15_000, signal: ctx.io.signal });
  return succeeded(ctx, `instance wait`, reply);
}

const instancesArg = { name: 'instances', description: 'names or UUIDs', required: true, variadic: true };

const start = verb<Out & { wait: string }>({
  name: 'start',
  summary: 'Start stopped instances',
  args: [instancesArg],
  options: [{ flags: '-w, --wait <duration>', description: 'wait this long for running (0 = return at once)', default: '10s' }],
  output: true,
  examples: ['hangar instance start web', 'hangar instance start web api -w 30s'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const ms = parseDuration(o.wait, '--wait', 's');
    const rows = await transition(ctx, 'start', names(a['instances']), ms > 0 ? { timeout_s: Math.max(1, Math.ceil(ms / 1000)) } : {}, ms + 30_000);
    printTransitions(ctx, format, rows, 'started');
  },
});

const stop = verb<Out & { force?: boolean; drainTimeout?: string; wait?: string }>({
  name: 'stop',
  summary: 'Stop running instances',
  args: [instancesArg],
  options: [
    { flags: '-f, --force', description: 'kill at once instead of asking the app to exit' },
    { flags: '-d, --drain-timeout <duration>', description: 'let connections drain this long first' },
    { flags: '-w, --wait <duration>', description: 'wait this long until stopped' },
  ],
  output: true,
  examples: ['hangar instance stop web', 'hangar instance stop web -w 10s', 'hangar instance stop web --force'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const refs = names(a['instances']);
    const extra: Record<string, unknown> = {};
    if (o.force) extra['force'] = true;
    if (o.drainTimeout !== undefined) extra['drain_timeout_ms'] = parseDuration(o.drainTimeout, '--drain-timeout', 'ms');
    const waitMs = o.wait !== undefined ? parseDuration(o.wait, '--wait', 's') : 0;
    let rows = await transition(ctx, 'stop', refs, extra);
    if (waitMs > 0 && rows.length > 0) {
      const before = new Map(rows.map((r) => [r['uuid'], r['previous_state']]));
      rows = (await waitFor(ctx, rows.map((r) => String(r['uuid'])), 'stopped', waitMs)).map((r) => ({ ...r, previous_state: before.get(r['uuid']) }));
    }
    printTransitions(ctx, format, rows, 'stopped');
  },
});

const suspend = verb<Out & { drainTimeout?: string }>({
  name: 'suspend',
  summary: 'Suspend running instances (state standby; memory stays resident)',
  args: [instancesArg],
  options: [{ flags: '-d, --drain-timeout <duration>', description: 'let connections drain this long first' }],
  output: true,
  examples: ['hangar instance suspend web', 'hangar instance start web   # resumes it'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const extra = o.drainTimeout !== undefined ? { drain_timeout_ms: parseDuration(o.drainTimeout, '--drain-timeout', 'ms') } : {};
    printTransitions(ctx, format, await transition(ctx, 'suspend', names(a['instances']), extra), 'suspended');
  },
});

const remove = verb<Out & { all?: boolean; stopped?: boolean }>({
  name: 'remove',
  aliases: ['rm', 'delete'],
  summary: 'Delete instances (running ones are stopped first)',
  args: [{ name: 'instances', description: 'names or UUIDs', variadic: true }],
  options: [
    { flags: '-a, --all', description: 'every instance' },
    { flags: '-s, --stopped', description: 'with --all: only stopped instances' },
  ],
  output: true,
  examples: ['hangar instance remove web', 'hangar instance rm --all --stopped'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    let refs = names(a['instances']);
    if (o.all) {
      if (refs.length > 0) throw new HangarError('invalid_argument', 'instance remove: give names or --all, not both', { field: '--all' });
      const { entries } = await ctx.node().call('GET', '/v1/instances', undefined, { signal: ctx.io.signal });
      refs = entries.filter((e) => !o.stopped || e['state'] === 'stopped').map((e) => String(e['uuid']));
      if (refs.length === 0) {
        if (format === 'table') ctx.io.out('no instances to remove\n');
        else printTransitions(ctx, format, [], 'removed');
        return;
      }
    } else if (refs.length === 0) throw new HangarError('invalid_argument', 'instance remove: name the instances to remove, or pass --all', { field: 'instances' });
    else if (o.stopped) throw new HangarError('invalid_argument', 'instance remove: --stopped goes with --all', { field: '--stopped' });
    const reply = await ctx.node().call('DELETE', '/v1/instances', refs.map(refOf), { timeoutMs: 60_000, signal: ctx.io.signal });
    printTransitions(ctx, format, succeeded(ctx, 'instance remove', reply), 'removed');
  },
});

const STATES = ['running', 'stopped', 'standby', 'starting', 'stopping', 'draining'] as const;

const wait = verb<Out & { state: string; timeout: string }>({
  name: 'wait',
  summary: 'Wait until instances reach a state',
  args: [instancesArg],
  options: [
    { flags: '--state <state>', description: 'state to wait for', default: 'running', choices: STATES },
    { flags: '-t, --timeout <duration>', description: 'give up after this long', default: '60s' },
  ],
  output: true,
  examples: ['hangar instance wait web', 'hangar instance wait web --state stopped -t 2m'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const ms = parseDuration(o.timeout, '--timeout', 's');
    const rows = await waitFor(ctx, names(a['instances']), o.state, ms);
    printTransitions(ctx, format, rows.map((r) => ({ ...r, previous_state: undefined })), `is ${o.state}`);
  },
});

export const INSTANCE_VERBS: VerbSpec[] = [create, list, get, logsVerb, start, stop, suspend, remove, wait];

export const instanceGroup = group({
  name: 'instance',
  aliases: ['instances', 'inst', 'vm'],
  summary: 'Manage instances on a node',
  children: INSTANCE_VERBS,
  examples: ['hangar instance create --image hello:latest -n web', 'hangar instance list', 'hangar instance logs -f web'],
});
