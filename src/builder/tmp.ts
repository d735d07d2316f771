/** Private temp directories of a build, named so leftovers of dead processes can be told apart. */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isStaleTemp, tempName } from '../lib/fs-util.js';

/** Creates `<parent>/.tmp-<kind>-<pid>-<random>` (mode 0700). */
export async function tempDir(parent: string, kind: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  const dir = join(parent, `.tmp-${tempName(kind)}`);
  await mkdir(dir, { mode: 0o700 });
  return dir;
}

/** Removes the temp directories under `parent` whose creating process is gone. */
export async function removeStaleTemps(parent: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith('.tmp-') && isStaleTemp(n.slice(5)) && !n.includes(`-${process.pid}-`)) await rm(join(parent, n), { recursive: true, force: true });
  }
}
