import type { HangarError } from '../lib/errors.js';
import { entryCodeOf, httpStatusOf } from './errors.js';

/** The UKC response envelope: `{status, message?, data: {<plural>: [...]}, errors?, op_time_us}`. */
export interface Envelope {
  status: 'success' | 'error' | 'partial_success';
  message?: string;
  data?: Record<string, unknown>;
  errors?: { status: number; message?: string }[];
  op_time_us: number;
}

export type Entry = Record<string, unknown> & { status: 'success' | 'error' };

export const ALL_FAILED = 'Failed to perform all operations';

/** Per-item failure, reported in-band with HTTP 200 as UKC does. */
export function errorEntry(e: HangarError, ref: { uuid?: string | undefined; name?: string | undefined } = {}): Entry {
  const entry: Entry = { status: 'error', message: e.message, error: entryCodeOf(e) };
  if (ref.uuid !== undefined) entry['uuid'] = ref.uuid;
  if (ref.name !== undefined) entry['name'] = ref.name;
  return entry;
}

export function entriesEnvelope(key: string, entries: Entry[], startedUs: number): Envelope {
  const failed = entries.filter((e) => e.status === 'error').length;
  const env: Envelope = {
    status: failed === 0 ? 'success' : failed === entries.length && entries.length > 0 ? 'error' : 'partial_success',
    data: { [key]: entries },
    op_time_us: elapsedUs(startedUs),
  };
  if (failed > 0) env.message = ALL_FAILED;
  return env;
}

export function errorEnvelope(e: HangarError, startedUs: number): { body: Envelope; status: ReturnType<typeof httpStatusOf> } {
  const status = httpStatusOf(e);
  return { status, body: { status: 'error', message: e.message, errors: [{ status, message: e.message }], op_time_us: elapsedUs(startedUs) } };
}

export const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
export const elapsedUs = (startedUs: number): number => nowUs() - startedUs;
