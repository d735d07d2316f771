/**
 * Writes small tar archives in memory, byte for byte reproducible: every header
 * field comes from the entry (fixed mtime by default, no atime/ctime, empty
 * user and group names). Used to build OCI layers and oci-archive tarballs.
 * Entries are written exactly as given — no path cleaning — so tests can also
 * build hostile archives with it.
 */
import { Header, Pax } from 'tar';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntrySpec {
  path: string;
  type: TarEntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  /** File contents (type 'file' only). */
  data?: Buffer;
  /** Target of a symlink or hardlink. */
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
}

/** 2024-01-01T00:00:00Z: the default mtime, so archives are reproducible. */
export const FIXED_MTIME = new Date(Date.UTC(2024, 0, 1));

const TYPE_NAMES = {
  file: 'File',
  dir: 'Directory',
  symlink: 'SymbolicLink',
  hardlink: 'Link',
  char: 'CharacterDevice',
  block: 'BlockDevice',
  fifo: 'FIFO',
} as const;

const BLOCK = 512;

function padding(n: number): Buffer {
  const rem = n % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rem);
}

function encodeEntry(e: TarEntrySpec): Buffer[] {
  const data = e.type === 'file' ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
  const mtime = e.mtime ?? FIXED_MTIME;
  const fields = {
    path: e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path,
    mode: e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644),
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    size: data.length,
    mtime,
    type: TYPE_NAMES[e.type],
    linkpath: e.linkpath ?? '',
    uname: '',
    gname: '',
    devmaj: e.devmajor ?? 0,
    devmin: e.devminor ?? 0,
  };
  const out: Buffer[] = [];
  const block = Buffer.alloc(BLOCK);
  const header = new Header(fields);
  header.encode(block, 0);
  if (header.needPax) {
    // Long names or large ids: a PAX header carries the full values.
    const pax = new Pax({ path: fields.path, linkpath: fields.linkpath || undefined, uid: fields.uid, gid: fields.gid, size: fields.size, mtime });
    out.push(pax.encode());
  }
  out.push(block, data, padding(data.length));
  return out;
}

/** Encodes the entries, in order, followed by the two zero blocks that end an archive. */
export function buildTar(entries: readonly TarEntrySpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) parts.push(...encodeEntry(e));
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
