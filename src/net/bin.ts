/**
 * Absolute paths of the host tools the driver runs (ip, iptables, nsenter, sysctl),
 * so a node started with a PATH lacking /usr/sbin still finds them.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const cache = new Map<string, string>();

export function bin(name: string): string {
  const hit = cache.get(name);
  if (hit) return hit;
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter(Boolean), ...EXTRA_DIRS];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      accessSync(p, constants.X_OK);
      cache.set(name, p);
      return p;
    } catch {
      /* next */
    }
  }
  return name; // let spawn report ENOENT with the bare name
}
