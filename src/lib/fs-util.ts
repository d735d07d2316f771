/** Filesystem helpers of the content store, the image store and the builder: temp names that say whose they are, durable atomic writes. */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** `<kind>-<pid>-<random>`: temp entries carry their creator's pid so init() can tell leftovers from live work. */
export const tempName = (kind: string): string => `${kind}-${process.pid}-${randomBytes(6).toString('hex')}`;

const TEMP_RE = /^[a-z]+-(\d+)-[0-9a-f]+(?:\..*)?$/;

/** True when the temp entry was made by a process that is gone (or by this one: init runs before any work). */
export function isStaleTemp(name: string): boolean {
  const m = TEMP_RE.exec(name);
  if (!m) return true;
  const pid = Number(m[1]);
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Writes the whole chunk (fh.write may write less than asked). */
export async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a new file (refusing to replace one) and fsyncs it. */
export async function writeNewFile(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to a temp file in `tmpDir`, fsyncs it, renames it over `path` and fsyncs the directory. */
export async function atomicWriteFile(path: string, data: string | Buffer, tmpDir: string): Promise<void> {
  const tmp = join(tmpDir, `${tempName('write')}.tmp`);
  try {
    await writeNewFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncPath(dirname(path));
}

