/**
 * The rules a ROM request must follow (shapes are the API's job): the
 * contract's limits (8 ROMs, image xor files, 16 files and 1 MiB per inline
 * ROM), names usable as a device name, `at` paths that cannot cover a system
 * path, inline file paths that stay inside the ROM. Every violation is an
 * invalid_argument naming the field (`roms[i].at`, `roms[i].files[j].data`).
 */
import { invalid } from '../../lib/errors.js';
import type { InstanceRom } from '../instance.js';
import type { ImageSource } from '../ports/images.js';
import type { InlineRomFile, RomSource } from '../ports/roms.js';

export const MAX_ROMS = 8;
export const MAX_INLINE_FILES = 16;
/** Decoded bytes of all files of one inline ROM. */
export const MAX_INLINE_BYTES = 1024 * 1024;

/** Letters, digits, `_`, `.`, `-`; not starting with `.` or `-` (so never `.`/`..`): a safe file name under /dev. */
export const ROM_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
/** Names the node gives unnamed ROMs (`ukp_rom0` …): reserved. */
export const NUMBERED_PREFIX = 'ukp_rom';

/**
 * Where `at` may not go: on, inside or above these the mount would hide what
 * the sandbox needs (its /proc, /sys, /dev, the node's /etc/hosts and
 * /etc/resolv.conf). `/tmp` and `/run` themselves are the writable scratch
 * areas; a ROM may sit inside them.
 */
const SYSTEM_TREES = ['/proc', '/sys', '/dev', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname'];
const SCRATCH = ['/tmp', '/run'];

export interface RomFileInput {
  path: string;
  encoding?: 'text' | 'base64' | undefined;
  data: string;
}

/** A ROM as the API hands it over. */
export interface RomInput {
  name?: string | undefined;
  image?: string | undefined;
  imageSource?: ImageSource | undefined;
  at?: string | undefined;
  files?: RomFileInput[] | undefined;
}

export interface CheckedRom {
  /** Field prefix of this ROM in the request (`roms[2]`), for later errors. */
  field: string;
  name?: string;
  at?: string;
  source: RomSource;
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

const inside = (path: string, tree: string): boolean => path === tree || path.startsWith(`${tree}/`);

/** Why `at` is not acceptable, or undefined. */
export function atProblem(at: string): string | undefined {
  if (!at.startsWith('/')) return 'must be an absolute path';
  if (at === '/') return "must not be '/' (the root)";
  if (at.length > 1024) return 'must be at most 1024 characters';
  if (/[\0-\x1f\x7f]/.test(at)) return 'must not contain control characters';
  const parts = at.slice(1).split('/');
  if (parts.some((p) => p === '')) return "must be normalised (no '//' and no trailing '/')";
  if (parts.some((p) => p === '.' || p === '..')) return "must not contain '.' or '..'";
  for (const t of SYSTEM_TREES) {
    if (inside(at, t) || inside(t, at)) return `must not be on, inside or above the system path ${t}`;
  }
  if (SCRATCH.includes(at)) return `must not be ${at} itself (a folder inside it is fine)`;
  return undefined;
}

/** Why an inline file path is not acceptable, or undefined. */
export function filePathProblem(path: string): string | undefined {
  if (path === '') return 'must not be empty';
  if (path.startsWith('/')) return 'must be relative (no leading /)';
  if (path.length > 4096) return 'must be at most 4096 characters';
  if (/[\0-\x1f\x7f]/.test(path)) return 'must not contain control characters';
  const parts = path.split('/');
  if (parts.some((p) => p === '')) return "must be normalised (no '//' and no trailing '/')";
  if (parts.some((p) => p === '.' || p === '..')) return "must not contain '.' or '..'";
  if (parts.some((p) => Buffer.byteLength(p) > 255)) return 'has a component longer than 255 bytes';
  return undefined;
}

function decodeFile(f: RomFileInput, field: string): Uint8Array {
  if ((f.encoding ?? 'text') === 'text') return Buffer.from(f.data, 'utf8');
  if (f.data.length % 4 !== 0 || !BASE64_RE.test(f.data)) throw invalid(`${field}.data`, 'is not valid base64');
  return Buffer.from(f.data, 'base64');
}

function checkFiles(files: RomFileInput[], field: string): InlineRomFile[] {
  if (files.length === 0) throw invalid(`${field}.files`, 'must hold at least one file');
  if (files.length > MAX_INLINE_FILES) throw invalid(`${field}.files`, `at most ${MAX_INLINE_FILES} files per inline ROM (got ${files.length}); package larger ROMs as an image`);
  const seen = new Set<string>();
  const out: InlineRomFile[] = [];
  let total = 0;
  files.forEach((f, j) => {
    const ff = `${field}.files[${j}]`;
    const problem = filePathProblem(f.path);
    if (problem) throw invalid(`${ff}.path`, problem);
    if (seen.has(f.path)) throw invalid(`${ff}.path`, `'${f.path}' is given twice`);
    seen.add(f.path);
    const data = decodeFile(f, ff);
    total += data.byteLength;
    if (total > MAX_INLINE_BYTES) throw invalid(`${field}.files`, `an inline ROM holds at most ${MAX_INLINE_BYTES} bytes (1 MiB) of file data; package larger ROMs as an image`);
    out.push({ path: f.path, data });
  });
  // A path that is also another file's folder cannot be both.
  for (const [j, f] of out.entries()) {
    if (out.some((g) => g.path.startsWith(`${f.path}/`))) throw invalid(`${field}.files[${j}].path`, `'${f.path}' is a file and also a folder of another file`);
  }
  return out;
}

/**
 * Checks `roms` (at `field`, e.g. `roms` or `value`) to be added to an
 * instance that already has `existing` ones: limits, names, `at`, files.
 */
export function checkRoms(roms: readonly RomInput[], existing: readonly InstanceRom[] = [], field = 'roms'): CheckedRom[] {
  if (existing.length + roms.length > MAX_ROMS) {
    throw invalid(field, `at most ${MAX_ROMS} ROMs per instance (${existing.length > 0 ? `it has ${existing.length}, ` : ''}asked for ${roms.length})`);
  }
  const names = new Set(existing.map((r) => r.name));
  const ats = existing.filter((r) => r.at !== undefined).map((r) => r.at!);
  return roms.map((rom, i) => {
    const f = `${field}[${i}]`;
    if (rom.name !== undefined) {
      if (!ROM_NAME_RE.test(rom.name)) throw invalid(`${f}.name`, `'${rom.name}' is not a ROM name (letters, digits, '_', '.', '-'; at most 63; not starting with '.' or '-')`);
      if (rom.name.startsWith(NUMBERED_PREFIX)) throw invalid(`${f}.name`, `names starting with '${NUMBERED_PREFIX}' are reserved for unnamed ROMs`);
      if (names.has(rom.name)) throw invalid(`${f}.name`, `the instance already has a ROM named '${rom.name}'`);
      names.add(rom.name);
    }
    if ((rom.image === undefined) === (rom.files === undefined)) throw invalid(`${f}.image`, 'give exactly one of image or files');
    if (rom.at !== undefined) {
      const problem = atProblem(rom.at);
      if (problem) throw invalid(`${f}.at`, problem);
      const clash = ats.find((a) => inside(a, rom.at!) || inside(rom.at!, a));
      if (clash !== undefined) throw invalid(`${f}.at`, clash === rom.at ? `another ROM is mounted at ${clash}` : `must not be inside or above ${clash}, where another ROM is mounted`);
      ats.push(rom.at);
    }
    const source: RomSource =
      rom.image !== undefined
        ? { kind: 'image', ref: rom.image, ...(rom.imageSource ? { source: rom.imageSource } : {}) }
        : { kind: 'inline', files: checkFiles(rom.files!, f) };
    return { field: f, ...(rom.name !== undefined ? { name: rom.name } : {}), ...(rom.at !== undefined ? { at: rom.at } : {}), source };
  });
}
