import { invalid } from '../../lib/errors.js';
import { verb } from '../spec.js';

/**
 * `hangar node`: runs a node in this process (the node code loads only for this verb).
 * `hangar node cleanup`: removes what the node of this home made on this host (a node-admin
 * command run where the node runs, like `hangar node` itself, not through the API).
 */
export const nodeVerb = verb<{ listen?: string; home?: string; force?: boolean }>({
  name: 'node',
  summary: 'Run a hangar node in the foreground (state in $HANGAR_HOME, default ~/.hangar)',
  description:
    '`hangar node cleanup` removes everything the (stopped) node made on this host: bridge, netns, iptables and ip6tables rules, cgroup folders, runc state. It refuses while instances run unless --force; the data in the home (database, images, logs) stays.',
  args: [{ name: 'action', description: '"cleanup": remove what the node made on this host' }],
  options: [
    { flags: '--listen <host:port>', description: 'API address (env HANGAR_LISTEN, default 127.0.0.1:8080)' },
    { flags: '--home <dir>', description: 'state directory (env HANGAR_HOME)' },
    { flags: '--force', description: 'cleanup: also stop and remove running instances' },
  ],
  examples: ['hangar node', 'hangar node --listen 127.0.0.1:8080 --home /var/lib/hangar', 'hangar node cleanup --home /var/lib/hangar'],
  async run(ctx, a, o) {
    if (a['action'] !== undefined && a['action'] !== 'cleanup') throw invalid('action', `unknown: ${String(a['action'])} (only "cleanup")`);
    if (a['action'] === 'cleanup') {
      const [{ configFromEnv }, { cleanupNode }, { createLogger }] = await Promise.all([import('../../node/config.js'), import('../../node/cleanup.js'), import('../../lib/log.js')]);
      const config = configFromEnv(o.home ? { ...ctx.io.env, HANGAR_HOME: o.home } : { ...ctx.io.env });
      const r = await cleanupNode(config, { force: o.force === true, logger: createLogger('hangar') });
      ctx.io.out(`node in ${config.home} cleaned up: ${r.sandboxes} sandbox(es), ${r.cgroups} cgroup folder(s), network ${config.network.bridge} removed\n`);
      return;
    }
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
