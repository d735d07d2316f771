import { basename, resolve } from 'node:path';
import { buildProject, defaultCacheDir, parseImageName, pkg, type RootfsFormat } from '../../builder/index.js';
import { parseEnvFlags } from '../parse/env.js';
import { buildEvents, realPush } from '../pipeline.js';
import { progressFor, stepped, type Progress } from '../progress.js';
import { verb, type Ctx } from '../spec.js';
import { findProject, labelOf } from './deploy.js';

const ROOTFS_TYPES = ['erofs', 'cpio'] as const;

interface OutFlags {
  out?: string;
  archive?: string;
  rootfsType?: RootfsFormat;
}

const outOptions = [
  { flags: '--rootfs-type <type>', description: 'also pack the rootfs as one filesystem image', choices: ROOTFS_TYPES },
  { flags: '--out <dir>', description: 'write the OCI layout here (default: $HANGAR_HOME/build/out/<name>/<tag>)' },
  { flags: '--archive <file>', description: 'also write an oci-archive tarball' },
];

const outOpts = (ctx: Ctx, o: OutFlags) => ({
  cacheDir: defaultCacheDir(ctx.io.env),
  ...(o.out ? { outDir: resolve(ctx.io.cwd, o.out) } : {}),
  ...(o.archive ? { archive: resolve(ctx.io.cwd, o.archive) } : {}),
  ...(o.rootfsType ? { rootfsType: o.rootfsType } : {}),
});

/** Pushes a layout to the node (`--push`). */
async function pushTo(ctx: Ctx, progress: Progress, layout: string, ref: string): Promise<void> {
  const { name, tag } = parseImageName(ref);
  const node = ctx.node();
  await node.call('GET', '/v1/users/quotas', undefined, { timeoutMs: 10_000, signal: ctx.io.signal });
  const step = progress.step(`push ${name}:${tag}`, 'bytes');
  const r = await stepped(step, () => realPush({ image: { path: layout, exposedPorts: [], notes: [] }, metro: node.baseUrl, token: node.target.token!, repo: name, tag, step, signal: ctx.io.signal }));
  step.end(`${r.ref} ${r.digest.slice(0, 19)}`);
}

/** `build [dir]`: a thin wrapper over buildProject. */
export const buildVerb = verb<OutFlags & { name?: string; kraftfile?: string; buildArg: string[]; push?: boolean }>({
  name: 'build',
  summary: 'Build a project folder (Kraftfile + Dockerfile) into an OCI image',
  args: [{ name: 'dir', description: 'project folder, or a Dockerfile (default: .)' }],
  options: [
    { flags: '-n, --name <name[:tag]>', description: 'image name (default: the Kraftfile\'s name, else the folder\'s)' },
    { flags: '-K, --kraftfile <file>', description: 'a Kraftfile other than the folder\'s' },
    { flags: '--build-arg <KEY=VALUE>', description: 'Dockerfile ARG (repeatable)', repeatable: true },
    ...outOptions,
    { flags: '--push', description: 'push the result to the node\'s registry' },
  ],
  examples: ['hangar build examples/hello', 'hangar build . -n web:v2 --rootfs-type erofs', 'hangar build . -n web --push'],
  async run(ctx, a, o) {
    const input = resolve(ctx.io.cwd, typeof a['dir'] === 'string' ? a['dir'] : '.');
    const progress = progressFor(ctx.io);
    const step = progress.step(`build ${o.name ?? basename(input)}`, 'items');
    const buildArgs = parseEnvFlags(o.buildArg, ctx.io.env, '--build-arg');
    const r = await stepped(step, () =>
      buildProject(input, {
        ...outOpts(ctx, o),
        ...(o.name ? { name: o.name } : {}),
        ...(o.kraftfile ? { kraftfile: resolve(ctx.io.cwd, o.kraftfile) } : {}),
        buildArgs,
        onProgress: buildEvents(step),
      }),
    );
    step.end(`${r.ref}: ${r.layers} layers, ${(r.sizeBytes / 2 ** 20).toFixed(1)} MiB in ${(r.durationMs / 1000).toFixed(1)} s`);
    for (const note of r.notes) ctx.io.err(`note: ${note}\n`);
    if (o.push) await pushTo(ctx, progress, r.layoutDir, r.ref);
    ctx.io.out(`${r.layoutDir}\n`);
  },
});

/** `pkg`: a project folder, an OCI layout (`--from`) or ROM folders (`--rom`) → an OCI layout, optionally pushed. */
export const pkgVerb = verb<OutFlags & { name?: string; as?: string; from?: string; rom: string[]; romType?: RootfsFormat; push?: boolean }>({
  name: 'pkg',
  aliases: ['package'],
  summary: 'Package a project, an OCI layout or ROM folders as an OCI image',
  description: 'A folder with a Kraftfile is built and packaged; --from packages an existing OCI layout again; --rom folders alone make a ROM-only package (4096-byte aligned, no kernel).',
  args: [{ name: 'dir', description: 'project folder (default: .; not with --from or --rom)' }],
  options: [
    { flags: '-n, --name <name[:tag]>', description: 'image name (default: the folder name)' },
    { flags: '-M, --as <format>', description: 'package format', choices: ['oci'], default: 'oci' },
    { flags: '--from <layout>', description: 'package this OCI layout' },
    { flags: '--rom <folder>', description: 'a folder (or .erofs/.cpio file) to package as a ROM (repeatable)', repeatable: true },
    { flags: '--rom-type <type>', description: 'ROM filesystem', choices: ROOTFS_TYPES },
    ...outOptions,
    { flags: '-P, --push', description: 'push the package to the node\'s registry' },
  ],
  examples: ['hangar pkg examples/hello -n hello --rootfs-type erofs', 'hangar pkg --rom ./site -n site-rom --push', 'hangar pkg --from ./layout -n web:v2 --rootfs-type cpio'],
  async run(ctx, a, o) {
    const progress = progressFor(ctx.io);
    const dir = typeof a['dir'] === 'string' ? a['dir'] : undefined;
    const step = progress.step(`pkg ${o.name ?? dir ?? o.from ?? 'rom'}`, 'items');
    const r = await stepped(step, () => {
      if (o.from || o.rom.length > 0) {
        return pkg({
          ...outOpts(ctx, o),
          name: o.name ?? labelOf(basename(o.from ?? o.rom[0] ?? ctx.io.cwd)),
          ...(o.as ? { as: o.as } : {}),
          ...(o.from ? { from: resolve(ctx.io.cwd, o.from) } : {}),
          ...(o.rom.length > 0 ? { roms: o.rom.map((p) => resolve(ctx.io.cwd, p)) } : {}),
          ...(o.romType ? { romType: o.romType } : {}),
          onProgress: buildEvents(step),
        });
      }
      const project = findProject(ctx.io.cwd, dir);
      return buildProject(project, { ...outOpts(ctx, o), ...(o.name ? { name: o.name } : {}), ...(o.as ? { as: o.as } : {}), onProgress: buildEvents(step) });
    });
    step.end(`${r.ref}: ${(r.sizeBytes / 2 ** 20).toFixed(1)} MiB`);
    if (o.push) await pushTo(ctx, progress, r.layoutDir, r.ref);
    ctx.io.out(`${r.layoutDir}\n`);
  },
});
