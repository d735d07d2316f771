import { Command } from 'commander';
import { configFromEnv } from '../../node/config.js';
import { startNode } from '../../node/node.js';
import { createLogger } from '../../lib/log.js';

export function nodeCommand(): Command {
  return new Command('node')
    .description('Run a hangar node in the foreground (state in $HANGAR_HOME, default ~/.hangar)')
    .option('--listen <host:port>', 'API address (env HANGAR_LISTEN)', undefined)
    .option('--home <dir>', 'state directory (env HANGAR_HOME)', undefined)
    .addHelpText('after', '\nExample:\n  hangar node --listen 127.0.0.1:8080\n')
    .action(async (opts: { listen?: string; home?: string }) => {
      const env = { ...process.env };
      if (opts.listen) env['HANGAR_LISTEN'] = opts.listen;
      if (opts.home) env['HANGAR_HOME'] = opts.home;
      const logger = createLogger('hangar');
      const node = await startNode(configFromEnv(env), logger);
      process.stdout.write(`hangar node listening on ${node.url} (home ${node.config.home}, admin token in ${node.config.home}/token)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          logger.info('stopping; instances keep running and are adopted at the next start');
          void node.stop().then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
