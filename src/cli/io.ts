/**
 * Everything a command touches outside itself besides the node's HTTP API:
 * where output goes, the environment, the terminal, Ctrl-C. `main()` takes a
 * partial Io so tests capture output and pass their own environment.
 */
export interface Io {
  out(s: string): void;
  err(s: string): void;
  env: NodeJS.ProcessEnv;
  /** stdout is a terminal (progress bars, prompts). */
  tty: boolean;
  /** Width tables must fit: the terminal's, else 80. */
  columns: number;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  /** Aborted on Ctrl-C (`logs -f`, waits). */
  signal: AbortSignal;
  cwd: string;
}

export function processIo(signal: AbortSignal = new AbortController().signal): Io {
  const tty = process.stdout.isTTY === true;
  // `hangar … | head` closes the pipe early: stop quietly, as other CLIs do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    env: process.env,
    tty,
    columns: tty && process.stdout.columns ? process.stdout.columns : 80,
    stdin: process.stdin,
    signal,
    cwd: process.cwd(),
  };
}

export function withDefaults(partial: Partial<Io> = {}): Io {
  return { ...processIo(), ...partial };
}
