import cliProgress from 'cli-progress';
import type { Io } from './io.js';
import { bytes, truncate } from './output.js';

/** One long step of a command (a build, a push): progress while it runs, one line when it ends. */
export interface Step {
  /** Units done so far, and the total once known. */
  update(done: number, total?: number): void;
  /** A line of tool output (buildah); kept and shown if the step fails, and printed now (plain mode) when `show`. */
  log(line: string, show?: boolean): void;
  /** The step worked: prints `<label>: <summary>`. */
  end(summary: string): void;
  /** The step failed: prints the last lines of its log. */
  fail(): void;
}

export interface Progress {
  step(label: string, unit?: 'bytes' | 'items'): Step;
}

const KEEP_LINES = 20;

/**
 * Progress bars (cli-progress, on stderr) when stdout is a terminal; plain
 * `label: summary` lines otherwise, so logs and pipes stay readable.
 */
export function progressFor(io: Io): Progress {
  return {
    step(label, unit = 'bytes') {
      const tail: string[] = [];
      const fmt = (n: number): string => (unit === 'bytes' ? bytes(n) : String(n));
      let bar: cliProgress.SingleBar | undefined;
      if (io.tty) {
        bar = new cliProgress.SingleBar({
          format: `${label} [{bar}] {percentage}% {doneText} {msg}`,
          barsize: 30,
          hideCursor: true,
          clearOnComplete: true,
          stream: process.stderr,
        }, cliProgress.Presets.shades_classic);
      }
      io.err(`${label}…\n`);
      let started = false;
      let msg = '';
      return {
        update(done, total) {
          if (!bar || total === undefined || total <= 0) return;
          const payload = { doneText: `${fmt(done)}/${fmt(total)}`, msg };
          if (!started) {
            bar.start(total, done, payload);
            started = true;
          } else {
            bar.setTotal(total);
            bar.update(done, payload);
          }
        },
        log(line, show = false) {
          if (show && started) msg = truncate(line, Math.max(10, io.columns - label.length - 60));
          else if (show) io.err(`  ${line}\n`);
          tail.push(line);
          if (tail.length > KEEP_LINES) tail.shift();
        },
        end(summary) {
          if (started) bar?.stop();
          io.err(`${label}: ${summary}\n`);
        },
        fail() {
          if (started) bar?.stop();
          if (tail.length > 0) io.err(`${label} failed; its last output:\n${tail.map((l) => `  ${l}`).join('\n')}\n`);
        },
      };
    },
  };
}

/** Runs a step's work; if it fails, the step prints what it kept before the error goes on. */
export async function stepped<T>(step: Step, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    step.fail();
    throw e;
  }
}
