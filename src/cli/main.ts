import { Command, CommanderError } from 'commander';
import { nodeCommand } from './commands/node.js';
import { imageCommand } from './commands/image.js';
import { instanceCommand } from './commands/instance.js';
import { HangarError } from '../lib/errors.js';

/** `hangar <noun> <verb>`: each command is declared in cli/commands/ and reaches a node only over HTTP. */
export function buildProgram(): Command {
  const program = new Command('hangar')
    .description('A self-hosted cloud that speaks the Unikraft Cloud API')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(nodeCommand());
  program.addCommand(imageCommand());
  program.addCommand(instanceCommand());
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    const msg = e instanceof HangarError ? e.message : e instanceof Error ? e.message : String(e);
    process.stderr.write(`hangar: ${msg}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'));
if (isEntry || process.argv[1]?.endsWith('/bin/hangar')) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (e: unknown) => {
    process.stderr.write(`hangar: ${String(e)}\n`);
    process.exitCode = 1;
  });
}
