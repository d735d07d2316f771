import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { HangarError } from '../../lib/errors.js';
import { NodeError, type Entry } from '../client.js';
import { parseEnvFile, parseEnvFlags } from '../parse/env.js';
import { badFlag } from '../parse/errors.js';
import { parseRoms, parseScaleToZero, type RomSpec, type ScaleToZero } from '../parse/kv-spec.js';
import { parsePorts, type PortSpec } from '../parse/ports.js';
import { parseCount, parseDuration, parseMemory } from '../parse/units.js';
import { inlineRomFiles } from '../rom-files.js';
import type { Ctx, OptSpec } from '../spec.js';

/** The flags `instance create` and `deploy` share, as commander parses them. */
export interface CreateFlags {
  name?: string;
  memory?: string;
  vcpus?: string;
  env: string[];
  envFile?: string;
  replicas?: string;
  restart?: string;
  port: string[];
  rom: string[];
  scaleToZero?: string;
  scaleToZeroCooldown?: string;
  scaleToZeroStateful?: boolean;
  start: boolean;
  wait: string;
}

export const RESTART_POLICIES = ['never', 'always', 'on-failure'] as const;

export const CREATE_OPTIONS: OptSpec[] = [
  { flags: '-n, --name <name>', description: 'instance name (default: a generated one)' },
  { flags: '-M, --memory <size>', description: 'memory: 512Mi or 1Gi (binary), 256M (decimal MB, rounded up to MiB); a bare number is MiB' },
  { flags: '-V, --vcpus <n>', description: 'virtual CPUs' },
  { flags: '-e, --env <KEY=VALUE>', description: 'environment variable (repeatable; KEY alone takes it from here)', repeatable: true },
  { flags: '--env-file <file>', description: 'read KEY=VALUE lines from a file (-e wins)' },
  { flags: '-R, --replicas <n>', description: 'extra copies to create (total = n + 1)' },
  { flags: '--restart <policy>', description: 'restart policy', choices: RESTART_POLICIES },
  { flags: '-p, --port <public:dest[/handlers]>', description: 'publish a port, e.g. 443:8080/http+tls (repeatable)', repeatable: true },
  { flags: '--rom <spec>', description: 'attach a ROM: image=<ref>,at=/rom[,name=..], or dir=<folder>,at=/rom sent inline (at most 16 files, 1 MiB) (repeatable)', repeatable: true },
  { flags: '--scale-to-zero <spec>', description: 'on, idle, off, or key=value pairs joined by commas: policy=on, cooldown-time=1000 (ms), notify-time=, stateful=true' },
  { flags: '--scale-to-zero-cooldown <duration>', description: 'kraft-style cooldown, e.g. 1s' },
  { flags: '--scale-to-zero-stateful', description: 'kraft-style: snapshot memory before standby' },
  { flags: '--start', description: 'start the instance after creating it', default: true },
  { flags: '--no-start', description: 'create it stopped' },
  { flags: '-w, --wait <duration>', description: 'how long to wait for running (0 = return at once)', default: '10s' },
];

/** A create request, checked, plus what the node may not take yet. */
export interface CreatePlan {
  body: Record<string, unknown>;
  ports: PortSpec[];
  roms: RomSpec[];
  scaleToZero?: ScaleToZero;
  waitMs: number;
}

/** Checks every flag before anything reaches the node, so bad input creates nothing. */
export function planCreate(ctx: Ctx, f: CreateFlags, image: string, args: string[]): CreatePlan {
  const body: Record<string, unknown> = { image, autostart: f.start };
  if (f.name !== undefined) {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(f.name)) throw badFlag('--name', f.name, 'expected 1-63 letters, digits and -, not starting or ending with -');
    body['name'] = f.name;
  }
  if (f.memory !== undefined) body['memory_mb'] = parseMemory(f.memory, '-M');
  if (f.vcpus !== undefined) {
    const n = parseCount(f.vcpus, '-V');
    if (n < 1) throw badFlag('-V', f.vcpus, 'needs at least 1 vCPU');
    body['vcpus'] = n;
  }
  if (f.replicas !== undefined) body['replicas'] = parseCount(f.replicas, '-R');
  if (f.restart !== undefined) body['restart_policy'] = f.restart;
  if (args.length > 0) body['args'] = args;
  let env: Record<string, string> = {};
  if (f.envFile !== undefined) {
    const path = resolve(ctx.io.cwd, f.envFile);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw badFlag('--env-file', f.envFile, `cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    env = parseEnvFile(text, f.envFile);
  }
  env = { ...env, ...parseEnvFlags(f.env, ctx.io.env) };
  if (Object.keys(env).length > 0) body['env'] = env;
  const waitMs = parseDuration(f.wait, '--wait', 's');
  if (f.start && waitMs > 0) body['timeout_s'] = Math.max(1, Math.ceil(waitMs / 1000));

  const ports = parsePorts(f.port);
  const roms = parseRoms(f.rom);
  let stz = f.scaleToZero !== undefined ? parseScaleToZero(f.scaleToZero) : undefined;
  if (f.scaleToZeroCooldown !== undefined || f.scaleToZeroStateful) {
    stz ??= { policy: 'on' };
    if (f.scaleToZeroCooldown !== undefined) stz.cooldown_time_ms = parseDuration(f.scaleToZeroCooldown, '--scale-to-zero-cooldown', 'ms');
    if (f.scaleToZeroStateful) stz.stateful = true;
  }
  if (stz && stz.policy !== 'off' && ports.length === 0) {
    throw new HangarError('invalid_argument', '--scale-to-zero needs a published port (-p 443:8080/http+tls): instances wake on traffic to their service', { field: '--scale-to-zero' });
  }
  if (roms.length > 0) body['roms'] = roms.map((r) => romBody(ctx.io.cwd, r));
  checkBodySize(body, roms);
  return { body, ports, roms, ...(stz ? { scaleToZero: stz } : {}), waitMs };
}

/** One `roms[]` entry of the API: an image reference, or a folder sent inline as `files`. */
export function romBody(cwd: string, r: RomSpec): Record<string, unknown> {
  return {
    ...(r.name !== undefined ? { name: r.name } : {}),
    ...('image' in r ? { image: r.image } : { files: inlineRomFiles(cwd, r.dir) }),
    ...(r.at !== undefined ? { at: r.at } : {}),
  };
}

/** The node takes at most 8 MiB per request; several inline ROMs can pass that while each is within its own limit. */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

function checkBodySize(body: Record<string, unknown>, roms: readonly RomSpec[]): void {
  const dirs = roms.filter((r): r is RomSpec & { dir: string } => 'dir' in r);
  if (dirs.length === 0 || Buffer.byteLength(JSON.stringify(body)) <= MAX_REQUEST_BYTES) return;
  throw badFlag('--rom', `dir=${dirs[0]!.dir}`, `the inline ROMs (${dirs.map((d) => d.dir).join(', ')}) make the request larger than the node's 8 MiB; package the largest as a ROM image (hangar pkg --rom <folder> -n <name> --push) and pass image=<name>`);
}

/** The fields for what the ingress serves (service group, scale-to-zero); the node may not take them yet. */
function extras(p: CreatePlan): Record<string, unknown> {
  const x: Record<string, unknown> = {};
  if (p.ports.length > 0) x['service_group'] = { services: p.ports };
  if (p.scaleToZero) x['scale_to_zero'] = p.scaleToZero;
  return x;
}

const UNSUPPORTED_NOTE: Record<string, (p: CreatePlan) => string> = {
  service_group: (p) => `ports ${p.ports.map((s) => `${s.port}:${s.destination_port}/${s.handlers.join('+')}`).join(', ')} are checked but not served: this node has no ingress yet; reach the instance on its private IP`,
  scale_to_zero: () => 'scale-to-zero is checked but not applied: this node does not support it yet',
};

/**
 * POST /v1/instances. Ports and scale-to-zero are sent as the UKC API has
 * them; a node that rejects them as unknown fields (400, nothing created)
 * gets the request again without them, and the user a note for each. ROMs
 * are never dropped: an instance without the code or data it was given would
 * answer wrongly, so a node without ROMs is an error.
 */
export async function createInstances(ctx: Ctx, plan: CreatePlan): Promise<Entry[]> {
  const node = ctx.node();
  const timeoutMs = plan.waitMs + 30_000;
  let x = extras(plan);
  for (;;) {
    try {
      const reply = await node.call('POST', '/v1/instances', { ...plan.body, ...x }, { timeoutMs, signal: ctx.io.signal });
      return reply.entries;
    } catch (e) {
      const field = e instanceof NodeError && e.http === 400 ? /^(service_group|scale_to_zero|roms)\b.*unknown field/.exec(e.message)?.[1] : undefined;
      if (field === 'roms') throw new HangarError('invalid_argument', `--rom: the node at ${node.baseUrl} does not take ROMs (it is older than this CLI); update the node`, { field: '--rom', cause: e });
      if (field === undefined || !(field in x)) throw e;
      ctx.io.err(`note: ${UNSUPPORTED_NOTE[field]!(plan)}\n`);
      const { [field]: _dropped, ...rest } = x;
      x = rest;
    }
  }
}
