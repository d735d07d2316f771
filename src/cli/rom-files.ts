import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { badFlag } from './parse/errors.js';

/**
 * `--rom dir=<folder>`: the folder sent inline as the API's `files`, which the
 * node packs into an EROFS ROM. The contract caps an inline ROM at 16 files and
 * 1 MB; past that the folder belongs in a ROM image (`hangar pkg`), so the
 * error says how to make one instead of letting the node refuse the request.
 */

export const INLINE_MAX_FILES = 16;
/** Bytes of file content per inline ROM (before base64), as the node counts them. */
export const INLINE_MAX_BYTES = 1024 * 1024;

export interface InlineFile {
  /** Relative to the ROM's root, `/`-separated, no `.`/`..`. */
  path: string;
  encoding: 'base64';
  data: string;
}

const pkgHint = (dir: string): string => `package it as a ROM image instead: hangar pkg --rom ${dir} -n <name> --push, then --rom image=<name>,at=…`;

/** Regular files under `dir`, sorted, as inline ROM files; symlinks and special files are refused (an inline ROM holds only files). */
export function inlineRomFiles(cwd: string, dir: string, flag = '--rom'): InlineFile[] {
  const spec = `dir=${dir}`;
  const root = resolve(cwd, dir);
  let st;
  try {
    st = statSync(root);
  } catch (e) {
    throw badFlag(flag, spec, `cannot read the folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (!st.isDirectory()) throw badFlag(flag, spec, 'is not a folder (give the folder whose files make the ROM)');
  const files: Array<{ rel: string; abs: string; size: number }> = [];
  let total = 0;
  const walk = (rel: string): void => {
    const names = readdirSync(join(root, rel)).sort();
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, r);
      const l = lstatSync(abs);
      if (l.isDirectory()) {
        walk(r);
        continue;
      }
      if (!l.isFile()) throw badFlag(flag, spec, `${r} is not a regular file (an inline ROM holds files and folders only; ${pkgHint(dir)})`);
      files.push({ rel: r, abs, size: l.size });
      total += l.size;
      if (files.length > INLINE_MAX_FILES) throw badFlag(flag, spec, `more than ${INLINE_MAX_FILES} files, the most an inline ROM takes; ${pkgHint(dir)}`);
      if (total > INLINE_MAX_BYTES) throw badFlag(flag, spec, `more than ${INLINE_MAX_BYTES / 1024 / 1024} MiB of files, the most an inline ROM takes; ${pkgHint(dir)}`);
    }
  };
  walk('');
  if (files.length === 0) throw badFlag(flag, spec, 'the folder has no files');
  return files.map((f) => ({ path: f.rel, encoding: 'base64', data: readFileSync(f.abs).toString('base64') }));
}
