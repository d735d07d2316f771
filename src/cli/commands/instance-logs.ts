import { StringDecoder } from 'node:string_decoder';
import type { Entry } from '../client.js';
import { badFlag } from '../parse/errors.js';
import { parseCount } from '../parse/units.js';
import { verb, type Ctx } from '../spec.js';
import { refQuery } from './instance-view.js';

const POLL_MS = 300;
const TAIL_WINDOW = 256 * 1024;

/** Resolves after `ms`, or at once when `signal` aborts. */
const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

const span = (e: Entry, key: 'range' | 'available'): { start: number; end: number } => {
  const v = e[key] as { start?: number; end?: number } | undefined;
  return { start: v?.start ?? 0, end: v?.end ?? 0 };
};

/** The last `n` lines of `text` (whose first line may be cut when `partial`). */
export function lastLines(text: string, n: number, partial: boolean): string {
  let lines = text.split('\n');
  const trailing = lines[lines.length - 1] === '' ? lines.pop() : undefined;
  if (partial) lines = lines.slice(1);
  lines = n === 0 ? [] : lines.slice(-n);
  return lines.length === 0 ? '' : `${lines.join('\n')}${trailing !== undefined ? '\n' : ''}`;
}

/**
 * Prints an instance's console. With `follow`, polls `/v1/instances/log` from
 * the last offset until the instance is stopped and everything is printed, or
 * until Ctrl-C.
 */
async function printLogs(ctx: Ctx, ref: string, follow: boolean, tail: number | undefined): Promise<void> {
  const node = ctx.node();
  const signal = ctx.io.signal;
  const decoder = new StringDecoder('utf8');
  const read = async (offset: number, limit?: number): Promise<Entry> => {
    const q = `${refQuery([ref])}&offset=${offset}${limit !== undefined ? `&limit=${limit}` : ''}`;
    const { entries } = await node.call('GET', `/v1/instances/log?${q}`, undefined, { signal });
    return entries[0] ?? {};
  };
  let offset = 0;
  if (tail !== undefined) {
    const e = await read(-TAIL_WINDOW);
    const r = span(e, 'range');
    ctx.io.out(lastLines(Buffer.from(String(e['output'] ?? ''), 'base64').toString('utf8'), tail, r.start > 0));
    offset = r.end;
    if (!follow) return;
  }
  for (;;) {
    let e: Entry;
    try {
      e = await read(offset);
    } catch (err) {
      if (signal.aborted) break;
      throw err;
    }
    const chunk = Buffer.from(String(e['output'] ?? ''), 'base64');
    if (chunk.length > 0) ctx.io.out(decoder.write(chunk));
    const r = span(e, 'range');
    offset = Math.max(offset, r.end);
    const more = offset < span(e, 'available').end;
    if (more) continue;
    if (!follow || e['state'] === 'stopped' || signal.aborted) break;
    await pause(POLL_MS, signal);
    if (signal.aborted) break;
  }
  const rest = decoder.end();
  if (rest) ctx.io.out(rest);
}

export const logsVerb = verb<{ follow?: boolean; tail?: string }>({
  name: 'logs',
  aliases: ['log'],
  summary: 'Print the console output of an instance',
  args: [{ name: 'instance', description: 'name or UUID', required: true }],
  options: [
    { flags: '-f, --follow', description: 'keep printing new output until the instance stops (or Ctrl-C)' },
    { flags: '-n, --tail <lines>', description: 'only the last <lines> lines' },
  ],
  examples: ['hangar instance logs web', 'hangar instance logs -f web', 'hangar instance logs -n 20 web'],
  async run(ctx, a, o) {
    const tail = o.tail !== undefined ? parseCount(o.tail, '--tail') : undefined;
    if (typeof a['instance'] !== 'string') throw badFlag('logs', '', 'name an instance');
    await printLogs(ctx, a['instance'], o.follow === true, tail);
  },
});
