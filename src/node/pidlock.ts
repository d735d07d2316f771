import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HangarError } from '../lib/errors.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** One node per home: two would fight over the same sandboxes. A stale lock from a killed node is taken over. */
export function takePidLock(home: string): () => void {
  const file = join(home, 'node.pid');
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (pid > 0 && pid !== process.pid && alive(pid)) {
      throw new HangarError('failed_precondition', `another node (pid ${pid}) is running with HANGAR_HOME=${home}`);
    }
  } catch (e) {
    if (e instanceof HangarError) throw e;
  }
  writeFileSync(file, `${process.pid}\n`);
  return () => rmSync(file, { force: true });
}
