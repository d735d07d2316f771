/**
 * Just enough Dockerfile reading to know, before buildah runs, which base
 * images the build needs: every `FROM` (with `ARG` defaults and --build-arg
 * values substituted) is classified as scratch, an earlier stage, a hangar
 * runtime, an image in the node's registry, or something hangar cannot get
 * offline — which is refused with the line number and the fix.
 */
import { HangarError } from '../lib/errors.js';
import { resolveRuntimeName, type RuntimeName } from './base-images.js';

export type BaseImage =
  | { kind: 'scratch' }
  | { kind: 'stage'; stage: string }
  /** `runtimes/<name>[:latest]`: loaded into the build's storage from the catalog (or the node's registry). */
  | { kind: 'runtime'; runtime: RuntimeName; ref: string }
  /** `<loopback host>:<port>/…`: pulled from the node's registry. */
  | { kind: 'registry'; ref: string; runtime?: RuntimeName };

export interface FromLine {
  line: number;
  image: string;
  stage?: string;
  base: BaseImage;
}

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/;

export const dockerfileError = (line: number | undefined, message: string): HangarError =>
  new HangarError('invalid_argument', `Dockerfile${line !== undefined ? `:${line}` : ''}: ${message}`, { field: 'Dockerfile' });

/** Instructions with their first line number: continuation lines joined, comments and blank lines dropped. */
export function instructions(text: string): Array<{ line: number; text: string }> {
  const lines = text.split(/\r?\n/);
  let escape = '\\';
  const directive = /^#\s*escape\s*=\s*([\\`])\s*$/i.exec(lines[0] ?? '');
  if (directive) escape = directive[1]!;
  const out: Array<{ line: number; text: string }> = [];
  let cur: { line: number; text: string } | undefined;
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    if (cur === undefined && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (cur !== undefined && trimmed.startsWith('#')) return;
    const cont = trimmed.endsWith(escape);
    const body = cont ? trimmed.slice(0, -1) : trimmed;
    cur = cur ? { line: cur.line, text: `${cur.text} ${body}` } : { line: i + 1, text: body };
    if (!cont) {
      out.push(cur);
      cur = undefined;
    }
  });
  if (cur) out.push(cur);
  return out;
}

function substitute(s: string, vars: Map<string, string>, line: number): string {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a: string | undefined, def: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    const v = vars.get(name) ?? def;
    if (v === undefined) throw dockerfileError(line, `FROM uses \$${name}, which has no value (give the ARG a default or pass --build-arg ${name}=…)`);
    return v;
  });
}

function classify(image: string, stages: ReadonlySet<string>, line: number): BaseImage {
  if (image.toLowerCase() === 'scratch') return { kind: 'scratch' };
  if (stages.has(image.toLowerCase())) return { kind: 'stage', stage: image.toLowerCase() };
  const first = image.split('/')[0]!;
  if (image.includes('/') && LOOPBACK_HOST.test(first) && first !== 'localhost') {
    let runtime: RuntimeName | undefined;
    try {
      if (/^[^/]+\/runtimes\//.test(image)) runtime = resolveRuntimeName(image).name;
    } catch {
      runtime = undefined;
    }
    return runtime ? { kind: 'registry', ref: image, runtime } : { kind: 'registry', ref: image };
  }
  const m = /^(?:localhost\/)?runtimes\/([^/:@]+)(?::latest)?$/.exec(image);
  if (m) return { kind: 'runtime', runtime: resolveRuntimeName(m[1]!).name, ref: image };
  throw dockerfileError(
    line,
    `FROM ${image}: hangar builds offline and cannot pull '${image}' (use FROM scratch, a hangar runtime such as FROM runtimes/python3, or an image pushed to the node's registry, 127.0.0.1:<port>/<name>)`,
  );
}

/** Every FROM of the Dockerfile, classified. Throws a `Dockerfile:<line>: …` error for one hangar cannot build from. */
export function scanFroms(text: string, buildArgs: Readonly<Record<string, string>> = {}): FromLine[] {
  const vars = new Map<string, string>();
  const stages = new Set<string>();
  const froms: FromLine[] = [];
  for (const ins of instructions(text)) {
    const m = /^(\S+)\s*(.*)$/.exec(ins.text);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'ARG' && froms.length === 0) {
      for (const decl of rest.split(/\s+/).filter(Boolean)) {
        const eq = decl.indexOf('=');
        const name = eq < 0 ? decl : decl.slice(0, eq);
        const def = eq < 0 ? undefined : decl.slice(eq + 1).replace(/^(["'])(.*)\1$/, '$2');
        const v = buildArgs[name] ?? def;
        if (v !== undefined) vars.set(name, v);
      }
      continue;
    }
    if (op !== 'FROM') continue;
    const words = rest.split(/\s+/).filter((w) => w !== '' && !w.startsWith('--'));
    if (words.length === 0) throw dockerfileError(ins.line, 'FROM needs an image (e.g. FROM scratch)');
    if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === 'as')) throw dockerfileError(ins.line, `cannot read '${ins.text}' (write FROM <image> [AS <name>])`);
    const image = substitute(words[0]!, vars, ins.line);
    const f: FromLine = { line: ins.line, image, base: classify(image, stages, ins.line) };
    if (words.length === 3) {
      f.stage = words[2]!.toLowerCase();
      stages.add(f.stage);
    }
    froms.push(f);
  }
  if (froms.length === 0) throw dockerfileError(undefined, 'has no FROM instruction (start it with FROM scratch or FROM runtimes/<name>)');
  return froms;
}
