/**
 * The two times a built image carries. File times inside layers are fixed, so
 * the same inputs give the same layer digests; the image's `created` is when
 * it was built, because people read it as the image's age (`/v1/images`
 * created_at, `hangar image list`): the fixed file time made every image look
 * years old. $SOURCE_DATE_EPOCH, when set, fixes both (a fully reproducible build).
 */
import { FIXED_MTIME } from '../image/tar-writer.js';

const sourceDateEpoch = (env: NodeJS.ProcessEnv): number | undefined => {
  const v = env['SOURCE_DATE_EPOCH'];
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
};

/** Seconds since the epoch for file times inside layers. */
export const defaultTimestamp = (env: NodeJS.ProcessEnv = process.env): number => sourceDateEpoch(env) ?? Math.floor(FIXED_MTIME.getTime() / 1000);

/** Seconds since the epoch for the image's `created`. */
export const defaultCreated = (env: NodeJS.ProcessEnv = process.env, now: number = Date.now()): number => sourceDateEpoch(env) ?? Math.floor(now / 1000);

/** Seconds since the epoch → the RFC 3339 time images carry. */
export const createdAt = (epoch: number): string => new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
