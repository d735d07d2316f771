import { Hono } from 'hono';
import { HangarError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { bearerAuth } from './auth.js';
import type { ApiDeps, AppEnv } from './context.js';
import { elapsedUs, errorEnvelope, nowUs } from './envelope.js';
import { toHangarError } from './errors.js';
import { imageRoutes } from './routes/images.js';
import { instanceRoutes } from './routes/instances.js';
import { serviceRoutes } from './routes/services.js';
import { userRoutes } from './routes/users.js';

/** The `/v1` platform API. Transport only: parse, call core, shape the envelope. */
export function createApi(deps: ApiDeps, logger: Logger): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    c.set('startedUs', nowUs());
    await next();
  });

  app.onError((e, c) => {
    const err = toHangarError(e);
    if (err.kind === 'internal') logger.error({ err: e instanceof Error ? e.stack : String(e), path: c.req.path }, 'request failed');
    const { body, status } = errorEnvelope(err, c.get('startedUs') ?? nowUs());
    return c.json(body, status);
  });

  app.notFound((c) => {
    const { body, status } = errorEnvelope(new HangarError('not_found', `no such endpoint: ${c.req.method} ${c.req.path}`), c.get('startedUs') ?? nowUs());
    return c.json(body, status);
  });

  // Unauthenticated: liveness and metro discovery.
  app.get('/v1/healthz', (c) =>
    c.json({ status: 'success', data: { checks: { images: 'healthy', systemd: 'healthy' }, versions: { hangar: deps.version } }, op_time_us: elapsedUs(c.get('startedUs')) }),
  );
  app.get('/v1/metros', (c) =>
    c.json({ status: 'success', data: { metros: [{ uuid: '00000000-0000-4000-8000-000000000001', endpoint: deps.baseUrl, name: 'local', iata_code: 'LCL', country: 'local' }] }, op_time_us: elapsedUs(c.get('startedUs')) }),
  );

  app.use('/v1/*', bearerAuth(deps.users));
  app.route('/v1/instances', instanceRoutes(deps));
  app.route('/v1/services', serviceRoutes(deps));
  app.route('/v1/users', userRoutes(deps));
  app.route('/v1', imageRoutes(deps));
  return app;
}
