import { badFlag } from './errors.js';

const MiB = 1024 * 1024;

/** Byte multipliers: SI suffixes are decimal, IEC suffixes (`Ki`, `Mi`, `Gi`, with or without `B`) are binary. */
const MEMORY_UNITS: Record<string, number> = {
  b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9,
  ki: 1024, kib: 1024, mi: MiB, mib: MiB, gi: 1024 * MiB, gib: 1024 * MiB,
};

/**
 * `-M/--memory` as `kraft cloud` reads it: a bare number is MiB; `Mi`/`MiB`/`Gi`
 * are binary, `M`/`MB`/`G` decimal (so `512M` = 512,000,000 bytes = 489 MiB,
 * rounded up to whole MiB). The result is `memory_mb` (MiB, as the node counts).
 */
export function parseMemory(value: string, flag = '--memory'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const expected = 'expected a size like 512Mi, 1Gi or 256M (a bare number is MiB)';
  if (!m) throw badFlag(flag, value, expected);
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  const mult = unit === '' ? MiB : MEMORY_UNITS[unit];
  if (mult === undefined) throw badFlag(flag, value, `unknown unit '${m[2]}'; ${expected}`);
  const mb = Math.ceil((n * mult) / MiB - 1e-9);
  if (!(mb >= 1)) throw badFlag(flag, value, 'must be at least 1 MiB');
  return mb;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `10s`, `1m`, `1h`, `1m30s`; a bare number is read in `bareUnit`. Returns milliseconds. */
export function parseDuration(value: string, flag: string, bareUnit: 'ms' | 's' = 's'): number {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * DURATION_UNITS[bareUnit]!);
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== v) {
    throw badFlag(flag, value, `expected a duration like 500ms, 10s or 1m (a bare number is ${bareUnit === 's' ? 'seconds' : 'milliseconds'})`);
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0));
}

/** A non-negative integer flag value. */
export function parseCount(value: string, flag: string): number {
  if (!/^\d+$/.test(value.trim())) throw badFlag(flag, value, 'expected a whole number ≥ 0');
  return Number(value);
}
