import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { KRAFTFILE_NAMES } from '../../builder/index.js';
import { HangarError } from '../../lib/errors.js';
import { outputFormat } from '../output.js';
import type { Pieces } from '../pipeline.js';
import { progressFor, stepped } from '../progress.js';
import { verb, type Ctx } from '../spec.js';
import { CREATE_OPTIONS, createInstances, planCreate, type CreateFlags } from './instance-create.js';
import { printInstances } from './instance-view.js';

/** The project folder, checked before anything is built or sent: it must hold a Kraftfile or a Dockerfile. */
export function findProject(cwd: string, dir: string | undefined): string {
  const abs = resolve(cwd, dir ?? '.');
  if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new HangarError('invalid_argument', `${dir ?? '.'}: no such folder; pass the folder that holds the Kraftfile`, { field: 'dir' });
  if (![...KRAFTFILE_NAMES, 'Dockerfile'].some((f) => existsSync(join(abs, f)))) {
    throw new HangarError('invalid_argument', `no Kraftfile in ${abs}; add one (spec: v0.7, runtime: base, rootfs: ./Dockerfile; see examples/) or pass the folder that has it`, { field: 'dir' });
  }
  return abs;
}

/** A DNS label from a folder name: `My App_2` → `my-app-2`. */
export const labelOf = (s: string): string => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'app';

/** How to reach a deployed instance from this machine. */
function reachability(rows: Array<Record<string, unknown>>, port: number | undefined): string {
  return rows
    .map((r) => {
      const ip = r['private_ip'];
      const name = String(r['name']);
      if (typeof ip !== 'string') return `${name} is ${String(r['state'])} (no private IP yet; \`hangar instance get ${name}\` shows it once it has one)\n`;
      return `${name} is ${String(r['state'])} at ${ip}; try:\n  curl http://${ip}:${port ?? '<port>'}/\n`;
    })
    .join('');
}

/** build → push → create, for one project folder. */
async function deploy(ctx: Ctx, pieces: Pieces, dirArg: string | undefined, o: CreateFlags & { output: string }): Promise<void> {
  const format = outputFormat(o.output);
  const dir = findProject(ctx.io.cwd, dirArg);
  const name = o.name ?? labelOf(basename(dir));
  // Every flag is checked before anything is built or sent.
  const plan = planCreate(ctx, { ...o, name }, 'pending', []);
  const repo = name.toLowerCase();
  const tag = 'latest';
  const node = ctx.node();
  await node.call('GET', '/v1/users/quotas', undefined, { timeoutMs: 10_000, signal: ctx.io.signal }); // reachable, token good
  const token = node.target.token!;
  const progress = progressFor(ctx.io);

  const buildStep = progress.step(`build ${repo}:${tag}`, 'items');
  const image = await stepped(buildStep, () => pieces.build({ dir, repo, tag, metro: node.baseUrl, token, env: ctx.io.env, step: buildStep }));
  buildStep.end(image.path);
  for (const note of image.notes) ctx.io.err(`note: ${note}\n`);

  const pushStep = progress.step(`push ${repo}:${tag}`, 'bytes');
  const pushed = await stepped(pushStep, () => pieces.push({ image, metro: node.baseUrl, token, repo, tag, step: pushStep, signal: ctx.io.signal }));
  pushStep.end(`${pushed.ref} ${pushed.digest.slice(0, 19)}`);

  plan.body['image'] = pushed.ref;
  // If create fails nothing is left to undo: the image stays in the registry, and a failed autostart is rolled back by the node.
  const made = await createInstances(ctx, plan);
  printInstances(ctx, format, made);
  if (format === 'table') ctx.io.out(reachability(made, plan.ports[0]?.destination_port ?? image.exposedPorts[0]));
}

/** `deploy [dir]`; `pieces` is injectable so tests can stand in for build and push. */
export const deployVerbWith = (pieces: () => Pieces) =>
  verb<CreateFlags & { output: string }>({
    name: 'deploy',
    aliases: ['launch', 'run'],
    summary: 'Build a project folder (Kraftfile + Dockerfile), push it to the node and start it',
    description: 'deploy = build + pkg + push to the node\'s registry + instance create. The instance is named -n, else after the folder.',
    args: [{ name: 'dir', description: 'project folder with a Kraftfile (default: .)' }],
    options: CREATE_OPTIONS.filter((opt) => !opt.flags.startsWith('-n')).concat([{ flags: '-n, --name <name>', description: 'instance and image name (default: the folder name)' }]),
    output: true,
    examples: [
      'hangar deploy examples/hello',
      'hangar deploy . -n web -M 256Mi -p 443:8080/http+tls -e GREETING=hi',
      'hangar deploy . -n web -R 2 --scale-to-zero policy=on,cooldown-time=1000',
      'hangar deploy ./base -n fn --rom dir=./rom1/fs,at=/rom',
    ],
    async run(ctx, a, o) {
      await deploy(ctx, pieces(), typeof a['dir'] === 'string' ? a['dir'] : undefined, o);
    },
  });


