import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UserStore } from '../core/ports/store.js';
import { hashToken } from '../api/auth.js';
import { newToken, newUuid } from '../lib/ids.js';

/**
 * On first start, make the admin user and write its token to `$HANGAR_HOME/token`
 * (0600). Later starts keep the user and the file as they are.
 */
export async function ensureAdmin(users: UserStore, home: string): Promise<{ token: string | undefined }> {
  const file = join(home, 'token');
  const token = await users.unitOfWork(async (tx) => {
    if (await tx.getUserByName('admin')) return undefined;
    const made = newToken();
    await tx.createUser({ uuid: newUuid(), name: 'admin', admin: true, createdAt: new Date().toISOString() }, hashToken(made));
    return made;
  });
  if (token === undefined) return { token: existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined };
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token };
}

/**
 * This node's id: the configured one, else the one generated on first start
 * and kept in `$HANGAR_HOME/node-id`, so it survives restarts and host renames.
 */
export function ensureNodeId(home: string, configured: string | undefined): string {
  if (configured) return configured;
  const file = join(home, 'node-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return id;
  }
  const id = newUuid();
  writeFileSync(file, `${id}\n`, { mode: 0o644 });
  return id;
}
