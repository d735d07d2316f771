import { spawn, type SpawnOptions } from 'node:child_process';
import { HangarError } from './errors.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  cwd?: string;
  timeoutMs?: number;
  /** Resolve with a non-zero code instead of throwing. */
  allowFailure?: boolean;
}

/**
 * Runs a program with an argument array (never a shell string, so nothing a user
 * sends can be interpreted by a shell). Throws HangarError('unavailable') on a
 * non-zero exit unless allowFailure is set.
 */
export function exec(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const so: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'] };
    if (opts.env) so.env = opts.env;
    if (opts.cwd) so.cwd = opts.cwd;
    const child = spawn(file, args, so);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new HangarError('unavailable', `${file}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const res = { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? 128 };
      if (res.code !== 0 && !opts.allowFailure) {
        const why = res.stderr.trim() || res.stdout.trim() || (signal ? `killed by ${signal}` : `exit ${res.code}`);
        reject(new HangarError('unavailable', `${file} ${args.slice(0, 3).join(' ')}: ${why}`));
        return;
      }
      resolve(res);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}
