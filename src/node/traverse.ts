import { chmodSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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

/** Search-only for others: a sandbox's mapped uid passes through, nobody can list. */
const TRAVERSE = 0o711;
const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;

/**
 * What a sandbox's mapped uid must reach inside the home, by path relative to
 * it; everything else is owner-only. The home itself stays 0711 (not 0700)
 * because runc resolves these paths from inside the sandbox's user namespace:
 * - images/rootfs: the shared read-only rootfs trees (their own modes inside);
 * - net/hosts/<id> and net/resolv.conf: bound read-only over /etc/hosts and
 *   /etc/resolv.conf, so they keep 0644 (an IP and hostnames, no secrets; the
 *   0711 folders above them cannot be listed).
 */
const REACHABLE: ReadonlyMap<string, number | 'keep'> = new Map<string, number | 'keep'>([
  ['images', TRAVERSE],
  ['images/rootfs', 'keep'],
  ['net', TRAVERSE],
  ['net/hosts', 'keep'],
  ['net/resolv.conf', 'keep'],
  // ROM bytes, bound read-only as each ROM's device: 0711 folders, 0644 files named by digest (image/rom-store.ts).
  ['roms', 'keep'],
]);

/**
 * Makes the home private: state.db and its WAL (every instance's env), the
 * admin token, logs, network leases, registry blobs and database become
 * owner-only (0600 files, 0700 folders); only the paths sandboxes must reach
 * stay open, search-only where they are folders. Folders made private are not
 * walked: what is created in them later is unreachable through them.
 */
export function makeHomePrivate(home: string): void {
  chmodSync(home, TRAVERSE);
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(home, rel))) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const p = join(home, child);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) continue;
      const rule = REACHABLE.get(child);
      if (rule === 'keep') continue;
      if (rule !== undefined) {
        chmodSync(p, rule);
        if (st.isDirectory()) walk(child);
        continue;
      }
      chmodSync(p, st.isDirectory() ? PRIVATE_DIR : PRIVATE_FILE);
    }
  };
  walk('');
}
