import { mkdirSync } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogChunk, LogStore } from '../core/ports/logs.js';

/** Console logs as one append-only file per instance under `dir`. */
export class FileLogStore implements LogStore {
  constructor(private readonly dir: string) {
    // Console output can carry secrets: owner-only (the node's home chmods an existing one).
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  pathFor(id: string): string {
    return join(this.dir, `${id}.log`);
  }

  async read(id: string, offset: number, limit: number): Promise<LogChunk> {
    let size = 0;
    try {
      size = (await stat(this.pathFor(id))).size;
    } catch {
      size = 0;
    }
    const start = Math.min(size, Math.max(0, offset < 0 ? size + offset : offset));
    const end = Math.min(size, start + Math.max(0, limit));
    const data = Buffer.alloc(end - start);
    if (end > start) {
      const fh = await open(this.pathFor(id), 'r');
      try {
        await fh.read(data, 0, data.length, start);
      } finally {
        await fh.close();
      }
    }
    return { data, available: { start: 0, end: size }, range: { start, end } };
  }

  async remove(id: string): Promise<void> {
    await rm(this.pathFor(id), { force: true });
  }
}
