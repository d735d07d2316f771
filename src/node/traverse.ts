import { chmodSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from '../lib/log.js';

/**
 * Sandboxes run as a mapped uid (see lib/idmap.ts), and runc mounts the shared
 * rootfs from inside their user namespace, so every directory above
 * `$HANGAR_HOME/images/rootfs` must be searchable by "others" (x, not r).
 * `/root` is 0700 on Debian, and the default home is `/root/.hangar` for root:
 * add the search bit where it is missing, and say so.
 */
export function ensureTraversable(dir: string, logger: Logger): void {
  let cur = resolve(dir);
  for (;;) {
    const st = statSync(cur);
    if ((st.mode & 0o001) === 0) {
      chmodSync(cur, (st.mode & 0o7777) | 0o001);
      logger.warn({ dir: cur }, 'added the search (x) bit for others so sandboxes can reach their rootfs');
    }
    const up = dirname(cur);
    if (up === cur) return;
    cur = up;
  }
}
