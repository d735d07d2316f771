import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UserStore } from '../core/ports/store.js';
import { hashToken } from '../api/auth.js';
import { newToken, newUuid } from '../lib/ids.js';

/**
 * On first start, make the admin user and write its token to `$HANGAR_HOME/token`
 * (0600). Later starts keep the user and the file as they are.
 */
export function ensureAdmin(users: UserStore, home: string): { token: string | undefined } {
  const file = join(home, 'token');
  if (users.getUserByName('admin')) {
    return { token: existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined };
  }
  const token = newToken();
  users.createUser({ uuid: newUuid(), name: 'admin', admin: true, createdAt: new Date().toISOString() }, hashToken(token));
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token };
}
