import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
// Each test file runs in its own process: its temp folders go when it exits, passed or failed.
process.on('exit', () => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh folder under the system temp dir, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
