/**
 * Persistent driver state: one JSON file per attachment (by instance id) and
 * one per prewarmed pool entry (by netns name). Writes are atomic (tmp + rename).
 * A `pending` record is written before anything is created on the host, so a
 * crash mid-attach leaves a record that detach/list can still find.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** A ready netns with eth0 on the bridge. */
export interface NetSandbox {
  netnsName: string;
  ip: string;
  prefixLength: number;
  gateway: string;
  mac: string;
  /** Host end of the veth pair. */
  hostVeth: string;
}

export interface AttachmentRecord {
  version: 1;
  id: string;
  status: 'pending' | 'ready';
  /** The netns (and CNI container id) holding this attachment; may be a pool name. */
  netnsName: string;
  hostname: string;
  /** The user owning the instance: only that user's instances reach it or resolve its name. Absent in records of older nodes ('' then). */
  owner?: string;
  sandbox?: NetSandbox;
}

export interface PoolRecord {
  version: 1;
  status: 'pending' | 'ready';
  netnsName: string;
  sandbox?: NetSandbox;
}

/** Writes via tmp + rename, so a reader never sees half a file. */
export async function writeTextAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

export const writeJsonAtomic = (file: string, value: unknown): Promise<void> => writeTextAtomic(file, JSON.stringify(value));

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export async function removeFile(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** Names (without `.json`) of the records in a directory. */
export async function listRecords(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
}

export class RecordDir<T> {
  constructor(readonly dir: string) {}
  file(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }
  async ensure(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }
  read(key: string): Promise<T | undefined> {
    return readJson<T>(this.file(key));
  }
  write(key: string, value: T): Promise<void> {
    return writeJsonAtomic(this.file(key), value);
  }
  remove(key: string): Promise<void> {
    return removeFile(this.file(key));
  }
  keys(): Promise<string[]> {
    return listRecords(this.dir);
  }
}
