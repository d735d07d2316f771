import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { HangarError } from '../lib/errors.js';
import type { UserStore } from '../core/ports/store.js';
import type { AppEnv } from './context.js';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * `Authorization: Bearer <token>`. kraftkit-style clients send base64(`user:token`),
 * so a token that does not match as is is tried once decoded.
 */
export function bearerAuth(users: UserStore): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const h = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw new HangarError('unauthenticated', 'missing bearer token (Authorization: Bearer <token>)');
    const token = m[1]!;
    let user = await users.userByTokenHash(hashToken(token));
    if (!user) {
      const decoded = Buffer.from(token, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) user = await users.userByTokenHash(hashToken(decoded.slice(i + 1)));
    }
    if (!user) throw new HangarError('unauthenticated', 'invalid token');
    c.set('user', user);
    await next();
  };
}
