import { Command, Option } from 'commander';
import { HangarError } from '../lib/errors.js';
import type { Io } from './io.js';
import { NodeApi, NodeError, resolveTarget, type Globals } from './client.js';
import { OUTPUT_FORMATS } from './output.js';

/**
 * Commands as data: each verb declares what it is, what it takes and how it
 * is used; `toCommand` turns the tree into commander commands, and help,
 * completion and the CLI tests walk the same tree.
 */

export interface ArgSpec {
  name: string;
  description: string;
  required?: boolean;
  variadic?: boolean;
}

export interface OptSpec {
  /** commander flags, e.g. `-n, --name <name>` or `--no-start`. */
  flags: string;
  description: string;
  default?: string | boolean | string[];
  /** May be given several times; the values collect into an array. */
  repeatable?: boolean;
  choices?: readonly string[];
}

/** What a verb gets besides its args and options. */
export interface Ctx {
  io: Io;
  globals: Globals;
  /** The node API, resolved on first use (flags, env, config, local node). */
  node(): NodeApi;
  /** Reports one failure on stderr and makes the run exit 1, without stopping it (partial success). */
  fail(message: string): void;
}

export type Args = Record<string, string | string[] | undefined>;

// Verbs are declared with their own option types; the tree holds them as
// `VerbSpec<any>` because run() is called with commander's parsed options.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface VerbSpec<O = any> {
  kind: 'verb';
  name: string;
  aliases?: string[];
  summary: string;
  description?: string;
  args?: ArgSpec[];
  options?: OptSpec[];
  /** Adds `-o, --output table|json|yaml`. */
  output?: boolean;
  /** Whole command lines, e.g. `hangar instance list -o json`. */
  examples: string[];
  run(ctx: Ctx, args: Args, opts: O): Promise<void>;
}

export interface GroupSpec {
  kind: 'group';
  name: string;
  aliases?: string[];
  summary: string;
  children: CommandSpec[];
  examples?: string[];
}

/** A command written directly against commander (kept for verbs owned elsewhere). */
export interface RawSpec {
  kind: 'raw';
  make(io: Io): Command;
}

export type CommandSpec = VerbSpec | GroupSpec | RawSpec;

export const verb = <O>(s: Omit<VerbSpec<O>, 'kind'>): VerbSpec<O> => ({ kind: 'verb', ...s });
export const group = (s: Omit<GroupSpec, 'kind'>): GroupSpec => ({ kind: 'group', ...s });

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

const examplesText = (ex: string[] | undefined): string => (ex && ex.length > 0 ? `\nExamples:\n${ex.map((e) => `  ${e}`).join('\n')}\n` : '');

export interface RunState {
  exitCode: number;
}

/**
 * What the node said about the things a command named (in-band entry errors),
 * prefixed with the command: `instance get: No instance with name 'x'`, and
 * for a missing one where to look.
 */
function inContext(e: unknown, path: string[]): unknown {
  if (!(e instanceof NodeError) || e.http !== 200) return e;
  const hint = e.kind === 'not_found' && path.length > 1 ? ` (\`hangar ${path[0]} list\` shows what there is)` : '';
  return new HangarError(e.kind, `${path.join(' ')}: ${e.message}${hint}`, { cause: e });
}

/** Builds the commander command for a spec; `state` collects the exit code of partial failures. */
export function toCommand(spec: CommandSpec, io: Io, state: RunState, parents: string[] = []): Command {
  if (spec.kind === 'raw') return spec.make(io);
  const cmd = new Command(spec.name).description(spec.summary);
  const path = [...parents, spec.name];
  for (const a of spec.aliases ?? []) cmd.alias(a);
  if (spec.kind === 'group') {
    for (const child of spec.children) cmd.addCommand(toCommand(child, io, state, path));
    cmd.addHelpText('after', examplesText(spec.examples));
    return cmd;
  }
  if (spec.description) cmd.summary(spec.summary).description(`${spec.summary}\n\n${spec.description}`);
  for (const a of spec.args ?? []) cmd.argument(a.required ? `<${a.name}${a.variadic ? '...' : ''}>` : `[${a.name}${a.variadic ? '...' : ''}]`, a.description);
  for (const o of spec.options ?? []) {
    const opt = new Option(o.flags, o.description);
    if (o.repeatable) opt.argParser(collect);
    else if (o.default !== undefined) opt.default(o.default);
    if (o.choices) opt.choices(o.choices);
    cmd.addOption(opt);
  }
  if (spec.output) cmd.addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'));
  cmd.addHelpText('after', examplesText(spec.examples));
  cmd.action(async (...params: unknown[]) => {
    const self = params[params.length - 1] as Command;
    const names = (spec.args ?? []).map((a) => a.name);
    const args: Args = Object.fromEntries(names.map((n, i) => [n, self.processedArgs[i] as string | string[] | undefined]));
    const globals = self.optsWithGlobals<Globals>();
    let api: NodeApi | undefined;
    const ctx: Ctx = {
      io,
      globals: { ...(globals.metro !== undefined ? { metro: globals.metro } : {}), ...(globals.token !== undefined ? { token: globals.token } : {}) },
      node: () => (api ??= new NodeApi(resolveTarget(ctx.globals, io.env))),
      fail: (message) => {
        io.err(`hangar: ${message}\n`);
        state.exitCode = Math.max(state.exitCode, 1);
      },
    };
    const opts = self.opts();
    for (const o of spec.options ?? []) {
      if (!o.repeatable) continue;
      const key = new Option(o.flags).attributeName();
      opts[key] ??= [];
    }
    try {
      await spec.run(ctx, args, opts);
    } catch (e) {
      throw inContext(e, path);
    }
  });
  return cmd;
}

/** Every command below `root` with its full path (`hangar instance create`), aliases included once. */
export function walk(root: Command, path: string[] = [root.name()]): Array<{ path: string[]; cmd: Command }> {
  return [{ path, cmd: root }, ...root.commands.flatMap((c) => walk(c, [...path, c.name()]))];
}
