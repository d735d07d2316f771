import { badFlag } from './errors.js';
import { parseDuration } from './units.js';

/**
 * The comma-separated `key=value` specs of the `unikraft` CLI (`--rom`,
 * `--scale-to-zero`). Keys must be known; a key may appear once.
 */
export function parseKv(spec: string, flag: string, keys: readonly string[], example: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of spec.split(',')) {
    const i = part.indexOf('=');
    const key = (i < 0 ? part : part.slice(0, i)).trim();
    if (i < 0 || key === '') throw badFlag(flag, spec, `expected key=value pairs joined by commas, e.g. ${example}`);
    if (!keys.includes(key)) throw badFlag(flag, spec, `unknown key '${key}'; keys are ${keys.join(', ')}`);
    if (out.has(key)) throw badFlag(flag, spec, `'${key}' is given twice`);
    out.set(key, part.slice(i + 1).trim());
  }
  return out;
}

const bool = (flag: string, spec: string, key: string, v: string): boolean => {
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw badFlag(flag, spec, `${key} must be true or false`);
};

// --- --rom ------------------------------------------------------------------

/** A ROM to attach: an image from a registry, or a local folder packaged as a ROM at deploy time. */
export type RomSpec = { name?: string; at?: string } & ({ image: string } | { dir: string });

const ROM_EXAMPLE = 'image=myrom:latest,at=/rom or dir=./site,at=/rom';
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** An absolute guest path without `.`/`..` segments or `:` (the API's rule for mount points). */
export function checkMountPath(flag: string, spec: string, at: string): void {
  if (!at.startsWith('/') || at.includes(':') || at.split('/').some((s) => s === '.' || s === '..')) {
    throw badFlag(flag, spec, `at=${at} must be an absolute path without '.', '..' or ':'`);
  }
}

/** `--rom image=..,at=/rom[,name=..]` or `--rom dir=./x,at=/rom[,name=..]`. */
export function parseRom(spec: string, flag = '--rom'): RomSpec {
  const kv = parseKv(spec, flag, ['image', 'dir', 'at', 'name'], ROM_EXAMPLE);
  const image = kv.get('image');
  const dir = kv.get('dir');
  if ((image === undefined) === (dir === undefined)) throw badFlag(flag, spec, `give exactly one of image= or dir=, e.g. ${ROM_EXAMPLE}`);
  if (image === '' || dir === '') throw badFlag(flag, spec, `${image === '' ? 'image' : 'dir'}= is empty`);
  const at = kv.get('at');
  if (at !== undefined) checkMountPath(flag, spec, at);
  const name = kv.get('name');
  if (name !== undefined && !NAME.test(name)) throw badFlag(flag, spec, 'name must be 1-63 of a-z 0-9 _ - starting with a letter or digit');
  return { ...(name !== undefined ? { name } : {}), ...(at !== undefined ? { at } : {}), ...(image !== undefined ? { image } : { dir: dir! }) };
}

/** Several `--rom` flags: at most 8, names and mount points unique. */
export function parseRoms(specs: readonly string[], flag = '--rom'): RomSpec[] {
  if (specs.length > 8) throw badFlag(flag, specs[8]!, 'an instance takes at most 8 ROMs');
  const roms = specs.map((s) => parseRom(s, flag));
  for (const key of ['name', 'at'] as const) {
    const seen = new Set<string>();
    for (const [i, r] of roms.entries()) {
      const v = r[key];
      if (v === undefined) continue;
      if (seen.has(v)) throw badFlag(flag, specs[i]!, `${key}=${v} is used by two ROMs`);
      seen.add(v);
    }
  }
  return roms;
}

// --- --scale-to-zero ---------------------------------------------------------

export const SCALE_TO_ZERO_POLICIES = ['on', 'off', 'idle'] as const;

/** The API's `scale_to_zero` object. */
export interface ScaleToZero {
  policy: (typeof SCALE_TO_ZERO_POLICIES)[number];
  cooldown_time_ms?: number;
  stateful?: boolean;
  notify_time_ms?: number;
}

const STZ_EXAMPLE = 'policy=on,cooldown-time=1000,stateful=true';

/**
 * `--scale-to-zero on|idle|off` or `policy=..,cooldown-time=<ms>,notify-time=<ms>,stateful=true|false`.
 * Times are milliseconds when bare, or durations (`5s`).
 */
export function parseScaleToZero(spec: string, flag = '--scale-to-zero'): ScaleToZero {
  const s = spec.trim();
  if ((SCALE_TO_ZERO_POLICIES as readonly string[]).includes(s)) return { policy: s as ScaleToZero['policy'] };
  if (!s.includes('=')) throw badFlag(flag, spec, `expected on, idle, off or key=value pairs, e.g. ${STZ_EXAMPLE}`);
  const kv = parseKv(s, flag, ['policy', 'cooldown-time', 'notify-time', 'stateful'], STZ_EXAMPLE);
  const policy = kv.get('policy') ?? 'on';
  if (!(SCALE_TO_ZERO_POLICIES as readonly string[]).includes(policy)) throw badFlag(flag, spec, `policy must be one of ${SCALE_TO_ZERO_POLICIES.join(', ')}`);
  const out: ScaleToZero = { policy: policy as ScaleToZero['policy'] };
  const time = (key: string): number | undefined => {
    const v = kv.get(key);
    return v === undefined ? undefined : parseDuration(v, `${flag} ${key}=`, 'ms');
  };
  const cooldown = time('cooldown-time');
  const notify = time('notify-time');
  if (cooldown !== undefined) out.cooldown_time_ms = cooldown;
  if (notify !== undefined) out.notify_time_ms = notify;
  const stateful = kv.get('stateful');
  if (stateful !== undefined) out.stateful = bool(flag, spec, 'stateful', stateful);
  if (notify !== undefined && notify > 0 && notify >= (cooldown ?? 1000)) throw badFlag(flag, spec, `notify-time must be shorter than cooldown-time (${cooldown ?? 1000} ms)`);
  return out;
}
