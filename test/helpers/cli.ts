import { tempDir } from './temp.js';
import { main, type CliDeps } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** A temp HOME for CLI runs, so no real config or node token is read or written; removed when the test process exits. */
export const tempHome = (): string => tempDir('hangar-cli-home-');

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
