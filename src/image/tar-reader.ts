/**
 * Reads a tar stream entry by entry with an async handler, one entry at a time,
 * with backpressure. Any damage (bad checksum, truncation, not a tar at all) is
 * an error; an archive holding nothing but its end-of-archive blocks is a valid,
 * empty archive (empty layers exist in the wild).
 */
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';

export type { ReadEntry };

export interface TarReadOptions {
  /** Called for entries of types the parser skips (e.g. GNU sparse files). */
  onIgnored?: (entry: ReadEntry) => void;
  /** Turns a low-level problem (a parse or input error) into the error to throw. */
  wrapError?: (e: Error) => Error;
}

/**
 * Calls `onEntry` for every entry, in archive order, waiting for each call to finish
 * before the next. Entry data the handler does not read is skipped. Settles only
 * after the running handler has returned.
 */
export function forEachTarEntry(input: Readable, onEntry: (e: ReadEntry) => Promise<void>, opts: TarReadOptions = {}): Promise<void> {
  const wrap = opts.wrapError ?? ((e: Error) => e);
  return new Promise<void>((resolve, reject) => {
    const parser = new Parser({ strict: false, zstd: false });
    const queue: ReadEntry[] = [];
    let current: ReadEntry | undefined;
    let sawEof = false;
    let ended = false;
    let busy = false;
    let error: Error | undefined;
    let settled = false;

    const settle = (): void => {
      if (settled || busy) return;
      if (error) {
        settled = true;
        reject(error);
      } else if (ended && queue.length === 0) {
        settled = true;
        resolve();
      }
    };
    const fail = (e: Error): void => {
      if (error) return;
      error = e;
      input.unpipe();
      input.destroy();
      parser.abort(e); // ignore whatever is still in flight
      // A handler may be waiting for data of the current entry that will never come:
      // end the entry so it finishes (with short data, which is thrown away with the error).
      current?.end();
      settle();
    };
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        while (queue.length > 0 && !error) {
          const entry = queue.shift()!;
          current = entry;
          await onEntry(entry);
          if (!entry.emittedEnd) entry.resume();
          current = undefined;
        }
      } catch (e) {
        if (!error) fail(e instanceof Error ? e : new Error(String(e)));
      } finally {
        busy = false;
      }
      settle();
    };

    parser.on('entry', (entry: ReadEntry) => {
      queue.push(entry);
      void pump();
    });
    parser.on('ignoredEntry', (entry: ReadEntry) => opts.onIgnored?.(entry));
    parser.on('eof', () => {
      sawEof = true;
    });
    parser.on('warn', (code: string, message: string) => {
      // An archive of only zero blocks: "unrecognized" to node-tar, an empty tar to everyone else.
      if (code === 'TAR_BAD_ARCHIVE' && /Unrecognized archive format/.test(message) && sawEof) return;
      fail(wrap(new Error(`${message} (${code})`)));
    });
    parser.on('error', (e: Error) => fail(wrap(e)));
    parser.on('end', () => {
      ended = true;
      settle();
    });
    input.on('error', (e: Error) => fail(wrap(e)));
    input.pipe(parser as unknown as NodeJS.WritableStream);
  });
}

/** Reads a whole entry into memory, refusing entries larger than `max` bytes. */
export async function readEntryData(entry: ReadEntry, max: number): Promise<Buffer> {
  if (entry.size > max) throw new Error(`${entry.path}: ${entry.size} bytes is more than the ${max} allowed`);
  const chunks: Buffer[] = [];
  for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
