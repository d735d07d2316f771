import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HangarError } from '../lib/errors.js';

/** The kernel's start time of a process (field 22 of /proc/<pid>/stat), or undefined when it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
};

/**
 * Whether the pid in a lock file is still the node that wrote it. After a
 * crash the pid may be reused by an unrelated process: the lock records the
 * process's start time, which a reused pid cannot match; a lock written
 * without one (older nodes) counts only if the process runs hangar.
 */
function lockHolderAlive(pid: number, recordedStart: string | undefined): boolean {
  const now = startTime(pid);
  if (now === undefined) return false;
  if (recordedStart !== undefined) return now === recordedStart;
  return cmdline(pid).includes('hangar');
}

/** One node per home: two would fight over the same sandboxes. A stale lock from a killed node is taken over. */
export function takePidLock(home: string): () => void {
  const file = join(home, 'node.pid');
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // no lock: nothing runs here
  }
  const [pidText, recordedStart] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (pid > 0 && pid !== process.pid && lockHolderAlive(pid, recordedStart)) {
    throw new HangarError('failed_precondition', `another node (pid ${pid}) is running with HANGAR_HOME=${home}`);
  }
  writeFileSync(file, `${process.pid} ${startTime(process.pid) ?? ''}\n`);
  return () => rmSync(file, { force: true });
}
