import { resolve } from 'node:path';
import { pushImage } from '../../image/push.js';
import { parseReference, repositoryName } from '../../oci/reference.js';
import { HangarError } from '../../lib/errors.js';
import { RegistryClient } from '../../distribution/client.js';
import { registryBaseUrl } from '../../distribution/transport.js';
import type { Entry } from '../client.js';
import { age, bytes, cell, col, outputFormat, render, renderTable, type Column } from '../output.js';
import { parseDuration } from '../parse/units.js';
import { progressFor } from '../progress.js';
import { group, verb, type Ctx } from '../spec.js';
import { succeeded } from './instance-view.js';

/**
 * `hangar image …`: what the node holds (`list`, `rm` through the node's API,
 * which refuses images instances use), `pull` (the node pins it, pulling from
 * its central registry or the registry the reference names), `push` (an OCI
 * layout or oci-archive to the node's registry, or any registry, with the
 * registry client and a progress bar), `import` (a push to the node's own
 * registry under a plain name).
 */

type Out = { output: string };
const many = (v: string | string[] | undefined): string[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const shortDigest = (r: Entry): string => cell(r['digest']).replace(/^sha256:/, '').slice(0, 12);

/** `repo:tag` of the first tag, else `repo@digest…` from an Image entry. */
function refOfImage(e: Entry): string {
  const tags = Array.isArray(e['tags']) ? (e['tags'] as string[]) : [];
  if (tags[0]) return tags.length > 1 ? `${tags[0]} (+${tags.length - 1})` : tags[0];
  const url = String(e['url'] ?? '');
  return url.slice(url.indexOf('/') + 1);
}

const IMAGE_COLUMNS: Column[] = [
  { header: 'IMAGE', get: refOfImage, min: 12, cut: 'middle', give: 1 },
  { header: 'DIGEST', get: shortDigest, min: 12 },
  col('KIND', 'kind', { min: 4 }),
  { header: 'SIZE', get: (r) => (typeof r['size_in_bytes'] === 'number' ? bytes(r['size_in_bytes']) : ''), min: 6 },
  { header: 'CREATED', get: (r) => age(r['created_at']), min: 4 },
  { header: 'USED BY', get: (r) => (Array.isArray(r['users']) ? (r['users'] as string[]).join(',') : ''), min: 7, give: 2 },
];

const list = verb<Out & { pinned?: boolean }>({
  name: 'list',
  aliases: ['ls'],
  summary: 'List the images the node holds',
  options: [{ flags: '--pinned', description: 'only pinned images (GET /v1/image-store)' }],
  output: true,
  examples: ['hangar image list', 'hangar image ls -o json'],
  async run(ctx, _a, o) {
    const format = outputFormat(o.output);
    const { entries } = await ctx.node().call('GET', o.pinned ? '/v1/image-store' : '/v1/images', undefined, { signal: ctx.io.signal });
    const rows = o.pinned ? entries.filter((e) => e['persistent'] === true) : entries;
    ctx.io.out(render(format, rows, () => renderTable(rows, IMAGE_COLUMNS, ctx.io.columns)));
  },
});

/** `user:password` → credentials. */
function creds(v: string | undefined, flag: string): { username: string; password: string } | undefined {
  if (v === undefined) return undefined;
  const i = v.indexOf(':');
  if (i <= 0) throw new HangarError('invalid_argument', `${flag} ${v.slice(0, 40)}: expected user:password`, { field: flag });
  return { username: v.slice(0, i), password: v.slice(i + 1) };
}

const pull = verb<Out & { policy?: string; creds?: string; timeout: string }>({
  name: 'pull',
  summary: 'Have the node pull an image and keep it (pin)',
  description: 'A name without a registry host comes from the node\'s central registry; `host[:port]/name:tag` from that registry. The pin keeps the image until `hangar image unpin`.',
  args: [{ name: 'refs', description: 'image references', required: true, variadic: true }],
  options: [
    { flags: '--policy <policy>', description: 'pull policy', choices: ['always', 'if_not_present', 'never'] },
    { flags: '--creds <user:password>', description: 'registry credentials for these images' },
    { flags: '--timeout <duration>', description: 'how long the node may take', default: '10m' },
  ],
  output: true,
  examples: ['hangar image pull library/nginx:1.27', 'hangar image pull r.example.com/app:v2 --creds me:pw --policy always'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const refs = many(a['refs']);
    const timeoutMs = parseDuration(o.timeout, '--timeout');
    const credentials = creds(o.creds, '--creds');
    const body = refs.map((url) => ({ url, timeout_s: Math.max(1, Math.ceil(timeoutMs / 1000)), ...(o.policy ? { pull_policy: o.policy } : {}), ...(credentials ? { credentials } : {}) }));
    const step = progressFor(ctx.io).step(`pull ${refs.join(' ')}`, 'items');
    let reply;
    try {
      reply = await ctx.node().call('POST', '/v1/images', body, { timeoutMs: timeoutMs + 15_000, signal: ctx.io.signal });
    } catch (e) {
      step.fail();
      throw e;
    }
    const ok = succeeded(ctx, 'image pull', reply);
    step.end(`${ok.length} of ${refs.length} ready`);
    ctx.io.out(render(format, ok, () => renderTable(ok, [col('IMAGE', 'url', { min: 12, cut: 'middle' }), { header: 'DIGEST', get: shortDigest, min: 12 }, col('STATE', 'state'), col('PIN', 'uuid', { min: 8, give: 2 })], ctx.io.columns)));
  },
});

const unpin = verb<Out>({
  name: 'unpin',
  summary: 'Unpin images (they stay until removed)',
  args: [{ name: 'pins', description: 'pin UUIDs (from `hangar image pull`)', required: true, variadic: true }],
  output: true,
  examples: ['hangar image unpin 5f0c2a1e-…'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const ids = many(a['pins']);
    const ok = succeeded(ctx, 'image unpin', await ctx.node().call('DELETE', '/v1/images', ids.map((uuid) => ({ uuid })), { signal: ctx.io.signal }));
    ctx.io.out(render(format, ok, () => ok.map((r) => `${cell(r['name'])} unpinned\n`).join('')));
  },
});

const remove = verb<Out>({
  name: 'remove',
  aliases: ['rm', 'delete'],
  summary: 'Remove images from the node (refused while an instance uses them)',
  args: [{ name: 'refs', description: 'name[:tag] or name@sha256:…', required: true, variadic: true }],
  output: true,
  examples: ['hangar image rm hello:old', 'hangar image rm library/app@sha256:…'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const refs = many(a['refs']);
    const body = refs.map((ref) => {
      const r = parseReference(ref, 'ref');
      return { name: r.domain ? r.path : repositoryName(r), ...(r.digest ? { digest: r.digest } : { tag: r.tag ?? 'latest' }) };
    });
    const ok = succeeded(ctx, 'image rm', await ctx.node().call('DELETE', '/v1/registry/images', body, { signal: ctx.io.signal }));
    ctx.io.out(render(format, ok, () => ok.map((r) => `removed ${cell(r['name'])}${r['tag'] ? `:${cell(r['tag'])}` : `@${cell(r['digest'])}`}\n`).join('')));
  },
});

/** Pushes with the registry client to the registry a reference names, or the node's own (`/v2/` on its API address). */
async function pushTo(ctx: Ctx, path: string, ref: string, o: { creds?: string; chunkSize?: string }): Promise<Entry> {
  const r = parseReference(ref, 'ref');
  if (r.digest) throw new HangarError('invalid_argument', `push ${ref}: push to a name:tag, not a digest`, { field: 'ref' });
  const tag = r.tag ?? 'latest';
  let registry: string;
  let credentials = creds(o.creds, '--creds');
  const node = ctx.node();
  const nodeHost = new URL(node.baseUrl).host;
  if (r.domain === undefined || r.domain === nodeHost) {
    registry = node.baseUrl;
    if (!credentials) {
      if (!node.target.token) throw new HangarError('unauthenticated', `no token for the node at ${node.baseUrl}: run \`hangar login\`, or set --token/UKC_TOKEN`);
      credentials = { username: 'hangar', password: node.target.token };
    }
  } else {
    registry = r.domain;
  }
  const repo = r.path;
  const client = new RegistryClient({ registry, credentials, signal: ctx.io.signal, userAgent: 'hangar-cli' });
  const target = `${new URL(registryBaseUrl(registry)).host}/${repo}:${tag}`;
  const step = progressFor(ctx.io).step(`push ${target}`, 'bytes');
  try {
    const chunkSize = o.chunkSize !== undefined ? Number(o.chunkSize) * 1024 * 1024 : undefined;
    const res = await pushImage(client, resolve(ctx.io.cwd, path), repo, tag, { onProgress: (d, t) => step.update(d, t), ...(chunkSize ? { chunkSize } : {}) });
    step.end(`${bytes(res.bytesPushed)} sent; blobs: ${res.blobs.uploaded} uploaded, ${res.blobs.exists} already there${res.blobs.mounted ? `, ${res.blobs.mounted} mounted` : ''}; ${res.digest}`);
    return { status: 'success', ref: target, repo, tag, digest: res.digest, media_type: res.mediaType, bytes_pushed: res.bytesPushed, blobs: res.blobs };
  } catch (e) {
    step.fail();
    throw e;
  } finally {
    client.close();
  }
}

/** Also registered at the top level as `hangar push`, the verb kraft and unikraft users know. */
export const push = verb<Out & { creds?: string; chunkSize?: string }>({
  name: 'push',
  summary: 'Push an OCI layout or oci-archive to the node\'s registry (or any registry)',
  description: 'A reference without a host goes to the node\'s own registry (/v2/ on its API address, with your API token); `host[:port]/name:tag` goes to that registry. Every platform and layer type is pushed as it is (Unikraft kernels, ROMs).',
  args: [
    { name: 'path', description: 'OCI layout directory or oci-archive tarball', required: true },
    { name: 'ref', description: 'name[:tag], or host[:port]/name[:tag]', required: true },
  ],
  options: [
    { flags: '--creds <user:password>', description: 'credentials for another registry' },
    { flags: '--chunk-size <MiB>', description: 'upload in chunks of this many MiB (default: one request per blob)' },
  ],
  output: true,
  examples: ['hangar image push build/images/hello.oci.tar hello:v2', 'hangar push ./layout 127.0.0.1:5000/app:1.0 --creds me:pw'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const row = await pushTo(ctx, String(a['path']), String(a['ref']), o);
    ctx.io.out(render(format, [row], () => `pushed ${cell(row['ref'])}@${cell(row['digest'])}\n`));
  },
});

/**
 * Import = push to the target node's registry: the CLI reaches a node only
 * through its API (UKC_METRO/UKC_TOKEN or the login), never through the files
 * of a node that happens to live on this machine.
 */
const importVerb = verb<Out & { ref?: string }>({
  name: 'import',
  summary: 'Import an OCI layout or oci-archive into the node (a push to its registry)',
  description: 'Pushes to the node\'s own registry (/v2/ on its API address) with your API token, as `hangar image push` does; the name has no registry host.',
  args: [{ name: 'path', description: 'OCI layout directory or oci-archive tarball', required: true }],
  options: [{ flags: '--ref <name:tag>', description: 'name to give it on the node' }],
  output: true,
  examples: ['hangar image import build/images/hello.oci.tar --ref hello:latest'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    if (o.ref === undefined) throw new HangarError('invalid_argument', '--ref: the name to give the image on the node is required', { field: '--ref' });
    if (parseReference(o.ref, '--ref').domain !== undefined) {
      throw new HangarError('invalid_argument', `--ref ${o.ref}: import goes to the node; use \`hangar image push\` for another registry`, { field: '--ref' });
    }
    const row = await pushTo(ctx, String(a['path']), o.ref, {});
    const rows = [{ ref: o.ref, digest: row['digest'], bytes_pushed: row['bytes_pushed'] }];
    ctx.io.out(render(format, rows, () => `imported ${o.ref} ${cell(row['digest'])}\n`));
  },
});

export const imageGroup = group({
  name: 'image',
  aliases: ['images'],
  summary: 'Images the node holds: list, pull, push, import, remove',
  children: [list, pull, push, importVerb, remove, unpin],
  examples: ['hangar image push build/images/hello.oci.tar hello:v2', 'hangar image ls', 'hangar image rm hello:v2'],
});
