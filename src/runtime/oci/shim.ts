/**
 * Spawns native/hangar-shim for one sandbox and waits for its report on fd 3:
 * "ok <app pid>" once `runc run -d` succeeded, "err <status>" when runc failed,
 * "exec <why>" when the app could not be executed, "fail <why>" when the shim
 * itself could not do its job.
 * The shim runs in its own session (detached) so it outlives this process;
 * see native/hangar-shim.c for what it does afterwards.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface ShimOptions {
  shimPath: string;
  /** Sandbox directory (shim.pid, pid and exit files live here). */
  dir: string;
  logPath: string;
  /** File with an `oom_kill N` line for the sandbox's cgroup, or '-'. */
  oomFile: string;
  /** The sandbox runs hangar-shim --init as pid 1 (runc must get --preserve-fds 1). */
  init: boolean;
  /** The runc command line the shim runs. */
  runcArgv: string[];
  /** A command the shim runs to completion before runc (the sandbox's host mounts), saving the node a process start. */
  prepArgv?: string[];
  timeoutMs: number;
}

export interface ShimHandle {
  shimPid: number;
  appPid: number;
  /** Resolves when the shim process has exited (after writing the exit file). */
  exited: Promise<void>;
  /** Set once the shim has exited. */
  readonly done: boolean;
}

export class ShimError extends Error {
  constructor(
    message: string,
    /** The shim ran runc and runc failed (its log has the reason). */
    readonly runcFailed: boolean,
  ) {
    super(message);
  }
}

export function startShim(o: ShimOptions): Promise<ShimHandle> {
  return new Promise((resolve, reject) => {
    const prep = o.prepArgv && o.prepArgv.length > 0 ? ['+', ...o.prepArgv] : [];
    const child = spawn(o.shimPath, [o.dir, o.logPath, o.oomFile, o.init ? 'init' : 'noinit', ...prep, '--', ...o.runcArgv], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      cwd: '/',
    });
    let done = false;
    const exited = new Promise<void>((res) => {
      child.once('exit', () => {
        done = true;
        res();
      });
      child.once('error', () => {
        done = true;
        res();
      });
    });
    child.unref();
    const report = child.stdio[3] as Readable;
    let settled = false;
    let buf = '';
    const timer = setTimeout(() => {
      finish(new ShimError(`runc did not start the sandbox within ${o.timeoutMs} ms`, false));
      child.kill('SIGKILL');
    }, o.timeoutMs);

    const finish = (err: Error | undefined, appPid?: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      report.destroy();
      if (err) {
        reject(err);
        return;
      }
      resolve({
        shimPid: child.pid as number,
        appPid: appPid as number,
        exited,
        get done() {
          return done;
        },
      });
    };

    child.once('error', (e) => finish(new ShimError(`cannot run ${o.shimPath}: ${e.message}`, false)));
    report.setEncoding('latin1');
    report.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      const sp = line.indexOf(' ');
      const word = sp < 0 ? line : line.slice(0, sp);
      const arg = sp < 0 ? '' : line.slice(sp + 1);
      const n = Number(arg);
      if (word === 'ok' && Number.isInteger(n) && n > 0) finish(undefined, n);
      else if (word === 'err') finish(new ShimError(`runc exited with status ${arg}`, true));
      else if (word === 'exec') finish(new ShimError(arg, false));
      else if (word === 'fail') finish(new ShimError(`hangar-shim: ${arg}`, false));
      else finish(new ShimError(`unexpected report from hangar-shim: ${JSON.stringify(buf.slice(0, nl))}`, false));
    });
    report.on('error', () => undefined);
    report.on('close', () => {
      // The shim closed the pipe without a report: it failed before running runc.
      void exited.then(() =>
        finish(new ShimError(`hangar-shim exited without a report (exit code ${child.exitCode ?? child.signalCode})`, false)),
      );
    });
  });
}
