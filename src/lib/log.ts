import { pino, type Logger } from 'pino';
import { readSettings } from './settings.js';

export type { Logger };

/** Structured JSON logs on stderr; HANGAR_LOG_LEVEL picks the level (default info, tests: warn). */
export function createLogger(name: string, level: string = readSettings().HANGAR_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that drops everything, for unit tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
