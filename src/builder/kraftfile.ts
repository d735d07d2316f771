/**
 * Kraftfile v0.6 / v0.7 (shared/reference/ukc-workflows.md §2), parsed with the
 * `yaml` package into a typed, validated model.
 *
 * hangar runs prebuilt runtimes in sandboxes, like the new `unikraft` CLI: it
 * supports `spec`, `name`, `runtime`, `rootfs`, `cmd`, `env`, `labels`, `roms`
 * (v0.7), `targets` and `outdir`, and refuses `libraries`, `volumes`, `template`
 * and `unikraft` (source builds). Every problem is one line starting with
 * `Kraftfile:` that names the key and says what to do.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { HangarError } from '../lib/errors.js';
import { isRepositoryName } from '../oci/names.js';

export const KRAFTFILE_NAMES = ['Kraftfile', 'kraft.yaml', 'kraft.yml'] as const;
export const SPEC_VERSIONS = ['v0.6', 'v0.7'] as const;
export type SpecVersion = (typeof SPEC_VERSIONS)[number];

export type RootfsFormat = 'cpio' | 'erofs';
export const ROOTFS_FORMATS: readonly RootfsFormat[] = ['cpio', 'erofs'];
export type SourceType = 'oci' | 'dir' | 'file' | 'tarball' | 'cpio' | 'erofs' | 'dockerfile';
const SOURCE_TYPES: readonly SourceType[] = ['oci', 'dir', 'file', 'tarball', 'cpio', 'erofs', 'dockerfile'];

/** A `rootfs` or `roms[]` entry in its long form, whatever form the file used. */
export interface FsSpec {
  source: {
    type: SourceType;
    /** Relative to the Kraftfile's folder: a Dockerfile, a directory (the build context, or files to pack), a tarball, a cpio/erofs image. */
    path: string;
    /** For type dockerfile when `path` is the build context: the Dockerfile (relative to the Kraftfile's folder). */
    dockerfile?: string;
  };
  /** Only when the file says so; the builder chooses otherwise. */
  format?: RootfsFormat;
}

export interface Target {
  platform: string;
  architecture: string;
}

export interface Kraftfile {
  spec: SpecVersion;
  name?: string;
  runtime?: string;
  rootfs?: FsSpec;
  /** Application argv (kernel arguments before `--` are dropped: hangar boots no kernel). */
  cmd?: string[];
  /** In file order; later duplicates replace earlier ones. */
  env: Array<[string, string]>;
  labels: Record<string, string>;
  roms: FsSpec[];
  targets: Target[];
  outdir?: string;
}

const SUPPORTED_KEYS = ['spec', 'specification', 'name', 'outdir', 'runtime', 'rootfs', 'cmd', 'env', 'labels', 'roms', 'targets'] as const;

/** Keys of the spec hangar refuses, with the fix to print. */
const UNSUPPORTED: Record<string, string> = {
  libraries: 'remove it; hangar runs prebuilt runtimes',
  unikraft: "remove it; hangar does not build Unikraft from source: name a prebuilt runtime instead, e.g. 'runtime: base'",
  template: 'remove it and copy the settings you need from the template into this Kraftfile',
  volumes: 'remove it; attach volumes when you create the instance (e.g. -v NAME:/data)',
  kconfig: 'remove it; hangar runs prebuilt runtimes and has no kernel configuration',
};

const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LABEL_KEY_RE = /^[a-zA-Z0-9._/-]+$/;
/** A Unikraft kernel parameter (`lib.param=value`), as found before `--` in a cmd. */
const KERNEL_ARG_RE = /^[a-z][a-z0-9_]*\.[a-z0-9_.]+=/;

/** The one error kind of this module: invalid_argument, field `Kraftfile`, message `Kraftfile: …`. */
export const kraftfileError = (message: string): HangarError => new HangarError('invalid_argument', `Kraftfile: ${message}`, { field: 'Kraftfile' });

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`);

/** Splits a command string into words the way a POSIX shell would (quotes and backslashes; no expansion). */
export function splitCommand(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Error('unterminated single quote');
      cur += s.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      inWord = true;
      for (i++; ; i++) {
        if (i >= s.length) throw new Error('unterminated double quote');
        const d = s[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1]!)) cur += s[++i];
        else cur += d;
      }
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Drops Unikraft kernel arguments (`vfs.fstab=… --`) in front of the application arguments. */
export function stripKernelArgs(argv: readonly string[]): string[] {
  const sep = argv.indexOf('--');
  if (sep < 0) return [...argv];
  const before = argv.slice(0, sep);
  return before.every((a) => KERNEL_ARG_RE.test(a)) ? argv.slice(sep + 1) : [...argv];
}

/** The source type a path implies when the file does not say. */
export function inferSourceType(path: string): SourceType {
  const base = path.replace(/\/+$/, '').split('/').pop() ?? path;
  if (/^(Docker|Container)file(\..+)?$/.test(base) || /\.(Docker|Container)file$/i.test(base)) return 'dockerfile';
  if (/\.cpio(\.gz)?$/.test(base)) return 'cpio';
  if (/\.erofs$/.test(base)) return 'erofs';
  if (/\.(tar|tar\.gz|tgz|tar\.xz|tar\.zst)$/.test(base)) return 'tarball';
  return 'dir';
}

// ---- zod schemas of the supported keys (messages are the text after "key 'x' ") -------------------

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));
const nonEmpty = (what: string) => z.string({ error: `must be ${what}` }).trim().min(1, { error: `must be ${what}, not empty` });

const sourceObject = z.strictObject({
  type: z.enum(SOURCE_TYPES as [SourceType, ...SourceType[]], { error: `must be one of ${SOURCE_TYPES.join(', ')}` }).optional(),
  path: nonEmpty('a path'),
  dockerfile: nonEmpty('a path to a Dockerfile').optional(),
});

const fsLong = z.strictObject({
  source: z.union([nonEmpty('a path'), sourceObject], { error: 'must be a path or {type, path, dockerfile}' }),
  /** Deprecated v0.7 form: `source: <path>` + top-level `type`. */
  type: z.enum(SOURCE_TYPES as [SourceType, ...SourceType[]], { error: `must be one of ${SOURCE_TYPES.join(', ')}` }).optional(),
  format: z.enum(['cpio', 'erofs'], { error: "must be 'cpio' or 'erofs'" }).optional(),
});

type FsEntry = string | z.output<typeof fsLong>;

const targetObject = z.strictObject({
  name: z.string().optional(),
  plat: z.string().optional(),
  platform: z.string().optional(),
  arch: z.string().optional(),
  architecture: z.string().optional(),
});

const SCHEMAS = {
  name: nonEmpty('a name'),
  outdir: nonEmpty('a path'),
  runtime: nonEmpty('a runtime name (e.g. base, python3, node, go)'),
  cmd: z.union([z.string(), z.array(scalar, { error: 'must be a list of strings' })], { error: 'must be a string or a list of strings (e.g. cmd: ["/server", "--port", "8080"])' }),
  env: z.union([z.record(z.string(), z.union([scalar, z.null()])), z.array(z.string({ error: 'entries must be KEY=VALUE strings' }))], {
    error: 'must be a mapping (KEY: value) or a list of KEY=VALUE strings',
  }),
  labels: z.record(z.string(), scalar, { error: 'must be a mapping of string keys to string values' }),
  roms: z.array(z.unknown(), { error: 'must be a list of paths (e.g. roms: [./fs])' }),
  targets: z.array(z.union([z.string(), targetObject], { error: 'entries must be plat/arch strings (e.g. kraftcloud/x86_64) or {plat, arch}' }), {
    error: 'must be a list (e.g. targets: [kraftcloud/x86_64])',
  }),
} as const;

function issueText(key: string, err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return `key '${key}' is invalid`;
  const sub = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  if (issue.code === 'unrecognized_keys') return `key '${key}${sub}.${issue.keys[0] ?? ''}' is not part of the spec (remove it)`;
  // A union reports its own message; the branch messages are more precise when the path goes deeper.
  return `key '${key}${sub}' ${issue.message.replace(/^Invalid input: /, 'is invalid: ')}`;
}

function parseKey<K extends keyof typeof SCHEMAS>(key: K, value: unknown): z.output<(typeof SCHEMAS)[K]> {
  const r = SCHEMAS[key].safeParse(value);
  if (!r.success) throw kraftfileError(issueText(key, r.error));
  return r.data as z.output<(typeof SCHEMAS)[K]>;
}

/** A `rootfs` or `roms[]` value: a path, or the long form (whose own errors are reported precisely). */
function parseFs(key: string, value: unknown): FsEntry {
  if (typeof value === 'string') {
    if (value.trim() === '') throw kraftfileError(`key '${key}' must be a path, not empty`);
    return value;
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const r = fsLong.safeParse(value);
    if (!r.success) throw kraftfileError(issueText(key, r.error));
    return r.data;
  }
  throw kraftfileError(`key '${key}' must be a path (e.g. ./Dockerfile) or {source: {type, path}, format: erofs|cpio}, not ${describe(value)}`);
}

// ---- normalisation ---------------------------------------------------------------------------------

const SUPPORTED_ROOTFS: readonly SourceType[] = ['dockerfile', 'dir', 'tarball'];
const SUPPORTED_ROM: readonly SourceType[] = ['dir', 'erofs', 'cpio', 'file'];

function toFsSpec(v: FsEntry, key: string, spec: SpecVersion, allowed: readonly SourceType[]): FsSpec {
  let out: FsSpec;
  if (typeof v === 'string') {
    out = { source: { type: inferSourceType(v), path: v } };
  } else {
    if (spec === 'v0.6') throw kraftfileError(`key '${key}' in the long form {source, format} needs spec v0.7 (set 'spec: v0.7', or write ${key}: ./Dockerfile)`);
    const src = typeof v.source === 'string' ? { path: v.source, type: v.type } : { ...v.source, type: v.source.type ?? v.type };
    out = { source: { type: src.type ?? inferSourceType(src.path), path: src.path } };
    if ('dockerfile' in src && src.dockerfile !== undefined) {
      if (out.source.type !== 'dockerfile' && src.type !== undefined) throw kraftfileError(`key '${key}.source.dockerfile' only applies to type dockerfile (remove it or set type: dockerfile)`);
      out.source.type = 'dockerfile';
      out.source.dockerfile = src.dockerfile;
    }
    if (v.format) out.format = v.format;
  }
  if (!allowed.includes(out.source.type)) {
    throw kraftfileError(`key '${key}': source type '${out.source.type}' is not supported by hangar (use ${allowed.map((t) => (t === 'dockerfile' ? 'a Dockerfile' : t === 'dir' ? 'a directory' : t)).join(', ')})`);
  }
  return out;
}

function toEnv(v: z.output<typeof SCHEMAS.env>): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      const eq = item.indexOf('=');
      if (eq <= 0) throw kraftfileError(`key 'env[${i}]' '${item}' must be KEY=VALUE (e.g. - PORT=8080)`);
      pairs.push([item.slice(0, eq), item.slice(eq + 1)]);
    });
  } else {
    for (const [k, val] of Object.entries(v)) {
      if (val === null) throw kraftfileError(`key 'env.${k}' has no value (write ${k}: "" for an empty value)`);
      pairs.push([k, val]);
    }
  }
  for (const [k] of pairs) if (!ENV_KEY_RE.test(k)) throw kraftfileError(`key 'env' has an invalid variable name '${k}' (use letters, digits and '_', not starting with a digit)`);
  return pairs;
}

function toTargets(v: z.output<typeof SCHEMAS.targets>): Target[] {
  return v.map((t, i) => {
    let platform: string | undefined;
    let architecture: string | undefined;
    if (typeof t === 'string') {
      const parts = t.split('/');
      if (parts.length !== 2 || !parts[0] || !parts[1]) throw kraftfileError(`key 'targets[${i}]' '${t}' must be plat/arch (e.g. kraftcloud/x86_64)`);
      [platform, architecture] = parts as [string, string];
    } else {
      platform = t.plat ?? t.platform;
      architecture = t.arch ?? t.architecture;
      if (!platform || !architecture) throw kraftfileError(`key 'targets[${i}]' needs both plat and arch (e.g. {plat: kraftcloud, arch: x86_64})`);
    }
    if (architecture === 'amd64') architecture = 'x86_64';
    if (architecture !== 'x86_64') throw kraftfileError(`key 'targets[${i}]': architecture '${architecture}' is not supported by hangar (this node runs x86_64; use ${platform}/x86_64)`);
    return { platform, architecture };
  });
}

function toSpec(v: unknown): SpecVersion {
  const s = typeof v === 'number' ? `v${v}` : typeof v === 'string' ? (v.startsWith('v') ? v : `v${v}`) : undefined;
  if (s === undefined) throw kraftfileError(`key 'spec' must be a version string like v0.7, not ${describe(v)}`);
  if (!(SPEC_VERSIONS as readonly string[]).includes(s)) throw kraftfileError(`spec '${String(v)}' is not supported by hangar (use 'spec: v0.6' or 'spec: v0.7')`);
  return s as SpecVersion;
}

/** Parses the text of a Kraftfile. Throws HangarError('invalid_argument') with a one-line `Kraftfile: …` message. */
export function parseKraftfile(text: string): Kraftfile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const yamlErr = doc.errors[0];
  if (yamlErr) {
    const pos = lc.linePos(yamlErr.pos[0]);
    const msg = yamlErr.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw kraftfileError(`line ${pos.line}: ${msg} (fix the YAML syntax)`);
  }
  if (doc.contents !== null && !isMap(doc.contents)) throw kraftfileError(`must be a YAML mapping of keys (e.g. 'spec: v0.7' on the first line), not ${describe(doc.toJS())}`);
  for (const pair of isMap(doc.contents) ? doc.contents.items : []) {
    const k = pair.key as YamlNode | null;
    if (!isScalar(k) || typeof k.value !== 'string') throw kraftfileError(`keys must be plain names, found ${describe(isScalar(k) ? k.value : null)}`);
  }
  const raw = (doc.toJS() ?? {}) as Record<string, unknown>;

  for (const key of Object.keys(raw)) {
    const fix = UNSUPPORTED[key];
    if (fix) throw kraftfileError(`key '${key}' is not supported by hangar (${fix})`);
    if (!(SUPPORTED_KEYS as readonly string[]).includes(key)) throw kraftfileError(`unknown key '${key}' (remove it; supported keys: ${SUPPORTED_KEYS.filter((k) => k !== 'specification').join(', ')})`);
  }
  if (raw['spec'] !== undefined && raw['specification'] !== undefined) throw kraftfileError("keys 'spec' and 'specification' are the same key (keep only 'spec')");
  const specRaw = raw['spec'] ?? raw['specification'];
  if (specRaw === undefined || specRaw === null) throw kraftfileError("key 'spec' is missing (add 'spec: v0.7' as the first line)");
  const spec = toSpec(specRaw);
  if (raw['roms'] !== undefined && spec === 'v0.6') throw kraftfileError("key 'roms' needs spec v0.7 (set 'spec: v0.7')");

  const kf: Kraftfile = { spec, env: [], labels: {}, roms: [], targets: [] };
  if (raw['name'] !== undefined) {
    const name = parseKey('name', raw['name']);
    if (!isRepositoryName(name)) throw kraftfileError(`key 'name' '${name}' is not a valid image name (use lowercase letters, digits, '.', '_', '-' and '/')`);
    kf.name = name;
  }
  if (raw['outdir'] !== undefined) kf.outdir = parseKey('outdir', raw['outdir']);
  if (raw['runtime'] !== undefined) kf.runtime = parseKey('runtime', raw['runtime']);
  if (raw['rootfs'] !== undefined) kf.rootfs = toFsSpec(parseFs('rootfs', raw['rootfs']), 'rootfs', spec, SUPPORTED_ROOTFS);
  if (raw['cmd'] !== undefined) {
    const cmd = parseKey('cmd', raw['cmd']);
    let argv: string[];
    try {
      argv = typeof cmd === 'string' ? splitCommand(cmd) : cmd;
    } catch (e) {
      throw kraftfileError(`key 'cmd': ${(e as Error).message} (close the quote, or write cmd as a list)`);
    }
    argv = stripKernelArgs(argv);
    if (argv.length === 0) throw kraftfileError("key 'cmd' is empty (give the program to run, e.g. cmd: [\"/server\"], or remove the key)");
    kf.cmd = argv;
  }
  if (raw['env'] !== undefined && raw['env'] !== null) kf.env = toEnv(parseKey('env', raw['env']));
  if (raw['labels'] !== undefined && raw['labels'] !== null) {
    kf.labels = parseKey('labels', raw['labels']);
    for (const k of Object.keys(kf.labels)) if (!LABEL_KEY_RE.test(k)) throw kraftfileError(`key 'labels' has an invalid label '${k}' (use letters, digits, '.', '_', '/' and '-')`);
  }
  if (raw['roms'] !== undefined && raw['roms'] !== null) kf.roms = parseKey('roms', raw['roms']).map((r, i) => toFsSpec(parseFs(`roms[${i}]`, r), `roms[${i}]`, spec, SUPPORTED_ROM));
  if (raw['targets'] !== undefined && raw['targets'] !== null) kf.targets = toTargets(parseKey('targets', raw['targets']));
  if (kf.runtime === undefined && kf.rootfs === undefined && kf.roms.length === 0) {
    throw kraftfileError("nothing to build (add 'runtime: <name>' and/or 'rootfs: ./Dockerfile', or 'roms: [./dir]' for a ROM package)");
  }
  return kf;
}

/** Finds and parses the Kraftfile of a project folder; undefined when it has none. */
export async function loadKraftfile(dir: string): Promise<{ path: string; kraftfile: Kraftfile } | undefined> {
  for (const name of KRAFTFILE_NAMES) {
    const path = join(dir, name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code === 'EISDIR') throw kraftfileError(`${path} is a directory (a Kraftfile is a YAML file)`);
      throw e;
    }
    return { path, kraftfile: parseKraftfile(text) };
  }
  return undefined;
}
