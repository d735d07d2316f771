import YAML from 'yaml';
import { HangarError } from '../lib/errors.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function outputFormat(v: string | undefined): OutputFormat {
  const f = v ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(f)) throw new HangarError('invalid_argument', `-o ${f}: expected one of ${OUTPUT_FORMATS.join(', ')}`, { field: '-o' });
  return f as OutputFormat;
}

export type Row = Record<string, unknown>;

export interface Column {
  header: string;
  /** The cell text; defaults to the row's `key` field. */
  get: (row: Row) => string;
  /** Narrowest the column may become when the table is too wide (default: its header's width). */
  min?: number;
  /** Where a too-long cell loses characters: its end (default), or its middle (image refs keep their tag). */
  cut?: 'end' | 'middle';
  /** Columns with a higher `give` shrink first (default 0): UUIDs before images before names. */
  give?: number;
}

export const col = (header: string, key: string, opts: Partial<Omit<Column, 'header'>> = {}): Column => ({
  header,
  get: (r) => cell(r[key]),
  ...opts,
});

export const cell = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** Cuts `s` to `width` characters, marking the cut with `…`. */
export function truncate(s: string, width: number, cut: 'end' | 'middle' = 'end'): string {
  if (s.length <= width) return s;
  if (width <= 1) return s.slice(0, width);
  if (cut === 'end') return `${s.slice(0, width - 1)}…`;
  const tail = Math.ceil((width - 1) / 2);
  return `${s.slice(0, width - 1 - tail)}…${s.slice(s.length - tail)}`;
}

const GAP = 2;

/**
 * A table no wider than `width` columns: natural widths, then columns give up
 * characters until it fits: those with the highest `give` first, and among
 * equals the one with the most to spare (no column goes below its minimum).
 */
export function renderTable(rows: Row[], cols: Column[], width = 80): string {
  const cells = rows.map((r) => cols.map((c) => c.get(r).replace(/\s+/g, ' ')));
  const widths = cols.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const mins = cols.map((c, i) => Math.min(widths[i]!, c.min ?? c.header.length));
  const total = (): number => widths.reduce((a, b) => a + b, 0) + GAP * (cols.length - 1);
  while (total() > width) {
    let pick = -1;
    const better = (i: number): boolean => {
      const gi = cols[i]!.give ?? 0;
      const gp = cols[pick]!.give ?? 0;
      return gi > gp || (gi === gp && widths[i]! - mins[i]! > widths[pick]! - mins[pick]!);
    };
    for (let i = 0; i < cols.length; i++) if (widths[i]! > mins[i]! && (pick < 0 || better(i))) pick = i;
    if (pick < 0) break;
    widths[pick]!--;
  }
  const line = (vals: string[]): string =>
    vals.map((v, i) => truncate(v, widths[i]!, cols[i]!.cut).padEnd(widths[i]!)).join(' '.repeat(GAP)).trimEnd();
  return [line(cols.map((c) => c.header)), ...cells.map(line)].map((l) => `${l}\n`).join('');
}

/** `key: value` lines for one object (the table form of a `get`). */
export function renderFields(fields: Array<[string, string]>): string {
  const w = Math.max(...fields.map(([k]) => k.length));
  return fields.filter(([, v]) => v !== '').map(([k, v]) => `${`${k}:`.padEnd(w + 2)}${v}\n`).join('');
}

/** JSON and YAML print what the node returned (always an array), tables what people read. */
export function render(format: OutputFormat, rows: Row[], table: () => string): string {
  if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  if (format === 'yaml') return rows.length === 0 ? '[]\n' : YAML.stringify(rows);
  return table();
}

/** `3s`, `5m`, `2h`, `4d` since an ISO time. */
export function age(iso: unknown, now = Date.now()): string {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** `128 MiB`, `1.5 GiB` from MiB. */
export const mib = (v: unknown): string => {
  if (typeof v !== 'number') return '';
  return v >= 1024 ? `${(v / 1024).toFixed(v % 1024 === 0 ? 0 : 1)} GiB` : `${v} MiB`;
};

/** Bytes in the largest unit that keeps the number ≥ 1 (`12.3 MiB`). */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
