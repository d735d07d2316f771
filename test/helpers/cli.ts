import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type CliDeps } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

const homes: string[] = [];
// Each test file runs in its own process: its temp HOMEs go when it exits, passed or failed.
process.on('exit', () => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

/** A temp HOME for CLI runs, so no real config or node token is read or written; removed when the test process exits. */
export function tempHome(): string {
  const h = mkdtempSync(join(tmpdir(), 'hangar-cli-home-'));
  homes.push(h);
  return h;
}

/**
 * Runs `hangar <argv>` in this process with captured output, an environment
 * of exactly `env` (plus PATH), and an 80-column non-terminal stdout.
 */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv, io: Partial<Io> = {}, deps: CliDeps = {}): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s), env: { PATH: process.env['PATH'], ...env }, tty: false, columns: 80, ...io }, deps);
  return { code, out, err };
}
