/**
 * LISTEN detection through /proc/<pid>/net/tcp{,6}: these list the TCP sockets
 * of the network namespace the process is in. Cheap enough to poll every few
 * milliseconds (two small reads, no process spawned).
 */
import { readFile } from 'node:fs/promises';

const TCP_LISTEN = '0A';

/** True if the /proc/net/tcp-format table has a socket in LISTEN state. */
export function hasListener(table: string): boolean {
  let start = table.indexOf('\n') + 1; // skip the header
  while (start > 0 && start < table.length) {
    const end = table.indexOf('\n', start);
    const line = table.slice(start, end < 0 ? undefined : end);
    // "  sl  local_address rem_address   st ..."
    const fields = line.trim().split(/\s+/);
    if (fields[3] === TCP_LISTEN) return true;
    if (end < 0) break;
    start = end + 1;
  }
  return false;
}

const readOrEmpty = (path: string): Promise<string> => readFile(path, 'latin1').catch(() => '');

/** Whether the network namespace of `pid` has a listening TCP socket (false if the pid is gone). */
export async function netnsListening(pid: number): Promise<boolean> {
  const v4 = await readOrEmpty(`/proc/${pid}/net/tcp`);
  if (hasListener(v4)) return true;
  return hasListener(await readOrEmpty(`/proc/${pid}/net/tcp6`));
}
