import { Command, CommanderError } from 'commander';
import { HangarError, type ErrorKind } from '../lib/errors.js';
import { readSettings } from '../lib/settings.js';
import { withDefaults, type Io } from './io.js';
import { toCommand, type CommandSpec, type RunState } from './spec.js';
import { imageGroup, push } from './commands/image.js';
import { instanceGroup } from './commands/instance.js';
import { login, logout } from './commands/login.js';
import { quotas } from './commands/quotas.js';
import { volumeGroup } from './commands/volume.js';
import { serviceGroup } from './commands/service.js';
import { completionVerb } from './commands/completion.js';
import { nodeVerb } from './commands/node.js';
import { deployVerbWith } from './commands/deploy.js';
import { buildVerb, pkgVerb } from './commands/build.js';
import { defaultPieces, type Pieces } from './pipeline.js';

/** What tests may replace: the build and push pieces deploy drives. */
export interface CliDeps {
  pieces?: () => Pieces;
}

/** Exit codes, also listed in `hangar --help`. */
const EXIT_BY_KIND: Partial<Record<ErrorKind, number>> = { invalid_argument: 2, unavailable: 3, unauthenticated: 4 };
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

const ROOT_HELP = `
Where commands go (first found wins): --metro/--token, UKC_METRO/UKC_TOKEN,
the config \`hangar login\` wrote (~/.config/hangar/config.yaml), then this
machine's node (127.0.0.1:8080 or HANGAR_LISTEN, token in $HANGAR_HOME/token).

Exit codes: 0 done, 1 failed, 2 bad usage or input, 3 node unreachable or
unavailable, 4 not authenticated, 130 interrupted.

Examples:
  hangar deploy examples/hello -n hello -p 443:8080/http+tls
  hangar instance create --image hello:latest -n web
  hangar instance list
  hangar login --metro http://127.0.0.1:8080 --token "$(cat ~/.hangar/token)"
`;

/** The command tree, as data. */
export function commandTree(tree: () => Command, deps: CliDeps = {}): CommandSpec[] {
  const pieces = deps.pieces ?? defaultPieces;
  return [
    login,
    logout,
    deployVerbWith(pieces),
    buildVerb,
    pkgVerb,
    push,
    instanceGroup,
    imageGroup,
    volumeGroup,
    serviceGroup,
    quotas,
    completionVerb(tree),
    nodeVerb,
  ];
}

/** Help width, error style and exit behaviour for every command, including ones built directly with commander. */
function configure(cmd: Command, io: Io, path: string): void {
  cmd
    .exitOverride()
    .configureHelp({ showGlobalOptions: true, helpWidth: Math.max(60, io.columns) })
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: (s, write) => write(`hangar: ${s.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see \`${path} --help\`)\n`),
    });
  for (const c of cmd.commands) configure(c, io, `${path} ${c.name()}`);
}

/** `hangar <noun> <verb>`: commands are declared in cli/commands/ and reach a node only over HTTP. */
export function buildProgram(io: Io = withDefaults(), state: RunState = { exitCode: 0 }, deps: CliDeps = {}): Command {
  const program = new Command('hangar')
    .description('A self-hosted cloud that speaks the Unikraft Cloud API')
    .version('0.1.0', '--version', 'print the version')
    .option('--metro <url>', 'node API URL (env UKC_METRO)')
    .option('--token <token>', 'API token (env UKC_TOKEN)')
    .addHelpText('after', ROOT_HELP);
  for (const spec of commandTree(() => program, deps)) program.addCommand(toCommand(spec, io, state));
  configure(program, io, 'hangar');
  return program;
}

/**
 * Runs one command line (without `node` and the script). Output goes through
 * `io` (tests capture it); returns the exit code instead of exiting.
 */
export async function main(argv: string[], partial: Partial<Io> = {}, deps: CliDeps = {}): Promise<number> {
  const io = withDefaults(partial);
  const state: RunState = { exitCode: 0 };
  try {
    await buildProgram(io, state, deps).parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_USAGE;
    if (io.signal.aborted) {
      io.err('hangar: interrupted\n');
      return EXIT_INTERRUPTED;
    }
    const msg = e instanceof Error ? e.message : String(e);
    io.err(`hangar: ${msg}\n`);
    if (!(e instanceof HangarError) && e instanceof Error && readSettings(io.env).HANGAR_DEBUG) io.err(`${e.stack ?? ''}\n`);
    return e instanceof HangarError ? (EXIT_BY_KIND[e.kind] ?? 1) : 1;
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'));
if (isEntry || process.argv[1]?.endsWith('/bin/hangar')) {
  // The first Ctrl-C asks the running command to stop (logs -f ends, the node shuts down); a second one exits.
  const ac = new AbortController();
  process.on('SIGINT', () => {
    if (ac.signal.aborted) process.exit(EXIT_INTERRUPTED);
    ac.abort();
  });
  main(process.argv.slice(2), { signal: ac.signal }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`hangar: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
