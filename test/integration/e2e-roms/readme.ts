/**
 * A README as a script: its ```sh blocks in order, each followed, when the
 * README shows one, by the ```text block of what it prints. The test runs the
 * blocks as they are written, so the README cannot drift from what works.
 */
import { spawn } from 'node:child_process';

export interface ReadmeStep {
  /** The commands of one ```sh block, verbatim. */
  script: string;
  /** The ```text block right after it: what the block prints on stdout (its last lines). */
  prints?: string;
}

/** Every ```sh block of `markdown`, paired with the ```text block that directly follows it. */
export function readmeSteps(markdown: string): ReadmeStep[] {
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  const blocks: Array<{ lang: string; body: string; start: number; end: number }> = [];
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) blocks.push({ lang: m[1]!, body: m[2]!, start: m.index, end: m.index + m[0].length });
  const steps: ReadmeStep[] = [];
  for (const [i, b] of blocks.entries()) {
    if (b.lang !== 'sh') continue;
    const next = blocks[i + 1];
    const adjacent = next && next.lang === 'text' && markdown.slice(b.end, next.start).trim() === '';
    steps.push({ script: b.body, ...(adjacent ? { prints: next.body } : {}) });
  }
  return steps;
}

export interface StepRun {
  step: ReadmeStep;
  code: number;
  stdout: string;
  stderr: string;
}

const MARK = '__hangar_readme_step_done__';

/**
 * Runs the steps in one bash (`set -eo pipefail`, so a failing command stops
 * it and variables carry from block to block, as in one terminal), with a
 * marker between blocks to split what each printed. Stops at the first
 * failing block; `timeoutMs` bounds the whole run.
 */
export async function runSteps(steps: readonly ReadmeStep[], o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<StepRun[]> {
  const script = ['set -eo pipefail', ...steps.flatMap((s, i) => [s.script, `echo ${MARK} ${i} >&2; echo ${MARK} ${i}`])].join('\n');
  const child = spawn('bash', ['-c', script], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => void (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => void (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
  const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? -1)));
  clearTimeout(timer);
  const split = (s: string): string[] => s.split(new RegExp(`^${MARK} \\d+\\n`, 'm'));
  const outs = split(out);
  const errs = split(err);
  const done = outs.length - 1;
  const runs: StepRun[] = [];
  for (let i = 0; i < steps.length && i <= done; i++) {
    runs.push({ step: steps[i]!, code: i < done ? 0 : code === 0 ? -1 : code, stdout: outs[i] ?? '', stderr: errs[i] ?? '' });
  }
  return runs;
}
