import type { PinRecord, PinStore } from './ports.js';

/** Pins kept in memory: for stores opened without a node (the CLI, tests). */
export class MemoryPinStore implements PinStore {
  private readonly pins = new Map<string, PinRecord>();

  async all(): Promise<PinRecord[]> {
    return [...this.pins.values()].map((p) => structuredClone(p));
  }

  async put(pin: PinRecord): Promise<void> {
    this.pins.set(pin.uuid, structuredClone(pin));
  }

  async remove(uuid: string): Promise<void> {
    this.pins.delete(uuid);
  }
}
