/**
 * Thin wrapper over a runc-compatible OCI runtime CLI (runc; runsc takes the
 * same subcommands after its own global flags), always with the driver's
 * private --root. JSON log lines on stderr become the HangarError message;
 * "does not exist" becomes not_found and wrong-state errors failed_precondition.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { HangarError, type ErrorKind } from '../../lib/errors.js';
import { exec } from '../../lib/exec.js';

export type OciStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface OciState {
  id: string;
  pid: number;
  status: OciStatus;
  bundle: string;
}

const TIMEOUT_MS = 30_000;

/** The messages of runc's --log-format json lines (plain text lines are kept as they are). */
export function logMessages(text: string): string {
  const msgs: string[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    if (t.startsWith('{')) {
      try {
        const j = JSON.parse(t) as { level?: string; msg?: string };
        if (j.msg && (j.level === 'error' || j.level === 'fatal')) msgs.push(j.msg);
        continue;
      } catch {
        // not JSON after all
      }
    }
    msgs.push(t);
  }
  return [...new Set(msgs)].join('; ');
}

function kindOf(message: string): ErrorKind {
  if (/does not exist/.test(message)) return 'not_found';
  if (/not running|not paused|is paused|already|stopped/.test(message)) return 'failed_precondition';
  return 'unavailable';
}

export class OciCli {
  constructor(
    readonly bin: string,
    readonly root: string,
    /** Global flags before the subcommand (e.g. runsc's --platform). */
    private readonly globalArgs: readonly string[] = [],
  ) {}

  private async run(args: string[]): Promise<string> {
    const res = await exec(this.bin, [...this.globalArgs, '--root', this.root, '--log-format', 'json', ...args], {
      allowFailure: true,
      timeoutMs: TIMEOUT_MS,
    });
    if (res.code !== 0) {
      const msg = logMessages(res.stderr) || logMessages(res.stdout) || `exit ${res.code}`;
      throw new HangarError(kindOf(msg), `${basename(this.bin)} ${args[0]} ${args.at(-1) ?? ''}: ${msg}`);
    }
    return res.stdout;
  }

  /** argv of the `runc run -d` the shim executes (`preserveFds`: pass fd 3.. on to the container). */
  runArgv(id: string, bundle: string, pidFile: string, logFile: string, preserveFds = 0): string[] {
    return [
      this.bin,
      ...this.globalArgs,
      '--root',
      this.root,
      '--log',
      logFile,
      '--log-format',
      'json',
      'run',
      '--detach',
      ...(preserveFds > 0 ? ['--preserve-fds', String(preserveFds)] : []),
      '--pid-file',
      pidFile,
      '--bundle',
      bundle,
      id,
    ];
  }

  /** The error runc logged to a --log file (for a failed `run`). */
  static async loggedError(logFile: string): Promise<string> {
    return logMessages(await readFile(logFile, 'utf8').catch(() => ''));
  }

  async state(id: string): Promise<OciState | undefined> {
    try {
      return JSON.parse(await this.run(['state', id])) as OciState;
    } catch (e) {
      if (e instanceof HangarError && e.kind === 'not_found') return undefined;
      throw e;
    }
  }

  async list(): Promise<OciState[]> {
    const out = await this.run(['list', '--format', 'json']);
    return (JSON.parse(out.trim() || 'null') as OciState[] | null) ?? [];
  }

  async kill(id: string, signal: string): Promise<void> {
    await this.run(['kill', id, signal]);
  }

  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  /** `runc delete --force`; a container that does not exist is not an error. */
  async delete(id: string): Promise<void> {
    try {
      await this.run(['delete', '--force', id]);
    } catch (e) {
      if (e instanceof HangarError && e.kind === 'not_found') return;
      throw e;
    }
  }
}
