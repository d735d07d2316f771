/**
 * The list paging of the contract: `count` and a `from` cursor that is either
 * the UUID of the last item seen (exclusive; the store pages by it) or an
 * ISO 8601 `created_at` (filtered here, after the store's listing).
 */
import { invalid } from '../lib/errors.js';
import { uuidSchema } from './schemas/common.js';

export interface Page {
  count: number;
  order: 'asc' | 'desc';
  /** UUID cursor for the store. */
  after?: string;
  /** created_at cursor (ms), applied by `pageByCreated`. */
  createdAfter?: number;
}

export function pageOf(q: { count?: string | undefined; from?: string | undefined; order?: 'asc' | 'desc' | undefined }): Page {
  const page: Page = { count: q.count === undefined ? 0 : Number(q.count), order: q.order ?? 'asc' };
  if (q.from !== undefined) {
    if (uuidSchema.safeParse(q.from).success) page.after = q.from.toLowerCase();
    else if (!Number.isNaN(Date.parse(q.from))) page.createdAfter = Date.parse(q.from);
    else throw invalid('from', 'must be a UUID or an ISO 8601 time');
  }
  return page;
}

/** What to ask the store for: with a time cursor, everything (the count applies after the filter). */
export const storePage = (p: Page): { count: number; order: 'asc' | 'desc'; after?: string } => ({
  count: p.createdAfter === undefined ? p.count : 0,
  order: p.order,
  ...(p.after ? { after: p.after } : {}),
});

/** Applies a created_at cursor and the count to what the store listed. */
export function pageByCreated<T extends { createdAt: string }>(items: T[], p: Page): T[] {
  const after = p.createdAfter;
  if (after === undefined) return items;
  const kept = items.filter((i) => (p.order === 'asc' ? Date.parse(i.createdAt) > after : Date.parse(i.createdAt) < after));
  return p.count > 0 ? kept.slice(0, p.count) : kept;
}
