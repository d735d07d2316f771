/**
 * Pins in the registry's database, beside the content they keep: one
 * transaction-safe store for them instead of a JSON file. A pin is kept as
 * its owner wrote it (the image service gives pins their meaning).
 */
import { readFile, rm } from 'node:fs/promises';
import type { Logger } from '../lib/log.js';
import type { RegistryContext } from './context.js';

export class PinTable<T extends { uuid: string }> {
  constructor(private readonly c: Pick<RegistryContext, 'd'>) {}

  async all(): Promise<T[]> {
    return this.c.d.s.allPins.all().map((r) => JSON.parse(r.doc) as T);
  }

  async put(pin: T): Promise<void> {
    this.c.d.s.upsertPin.run(pin.uuid, JSON.stringify(pin));
  }

  async remove(uuid: string): Promise<void> {
    this.c.d.s.deletePin.run(uuid);
  }

  /** Pins of a node that kept them in `pins.json` move in once; the file goes afterwards. */
  async importJson(file: string, log: Logger): Promise<number> {
    let doc: { pins?: T[] };
    try {
      doc = JSON.parse(await readFile(file, 'utf8')) as { pins?: T[] };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      log.error({ err: String(e), file }, 'cannot read pins; not migrated');
      return 0;
    }
    const pins = (doc.pins ?? []).filter((p) => typeof p?.uuid === 'string');
    const s = this.c.d.s;
    this.c.d.db.transaction(() => {
      for (const p of pins) s.upsertPin.run(p.uuid, JSON.stringify(p));
    })();
    await rm(file, { force: true });
    log.info({ pins: pins.length, file }, 'moved pins into the registry database');
    return pins.length;
  }
}
