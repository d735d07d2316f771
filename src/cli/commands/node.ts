import { verb } from '../spec.js';

/** `hangar node`: runs a node in this process (the node code loads only for this verb). */
export const nodeVerb = verb<{ listen?: string; home?: string }>({
  name: 'node',
  summary: 'Run a hangar node in the foreground (state in $HANGAR_HOME, default ~/.hangar)',
  options: [
    { flags: '--listen <host:port>', description: 'API address (env HANGAR_LISTEN, default 127.0.0.1:8080)' },
    { flags: '--home <dir>', description: 'state directory (env HANGAR_HOME)' },
  ],
  examples: ['hangar node', 'hangar node --listen 127.0.0.1:8080 --home /var/lib/hangar'],
  async run(ctx, _a, o) {
    const [{ configFromEnv }, { startNode }, { createLogger }] = await Promise.all([import('../../node/config.js'), import('../../node/node.js'), import('../../lib/log.js')]);
    const env = { ...ctx.io.env };
    if (o.listen) env['HANGAR_LISTEN'] = o.listen;
    if (o.home) env['HANGAR_HOME'] = o.home;
    const config = configFromEnv(env); // validates every HANGAR_* variable before anything starts
    const logger = createLogger('hangar');
    const { unknownSettings } = await import('../../lib/settings.js');
    const unknown = unknownSettings(env);
    if (unknown.length > 0) logger.warn({ variables: unknown }, 'ignoring unknown HANGAR_* variables (typos?)');
    const node = await startNode(config, logger);
    ctx.io.out(`hangar node listening on ${node.url} (home ${node.config.home}, admin token in ${node.config.home}/token)\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        logger.info('stopping; instances keep running and are adopted at the next start');
        void node.stop().then(resolve, resolve);
      };
      if (ctx.io.signal.aborted) return stop();
      ctx.io.signal.addEventListener('abort', stop, { once: true }); // Ctrl-C
      process.once('SIGTERM', stop);
    });
  },
});
