/**
 * One async section at a time per key (e.g. start, stop and delete of one
 * instance), in call order. A rejected section does not block the next.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

/** A single-key KeyedMutex: async sections one at a time, in call order. */
export class Mutex {
  private readonly keyed = new KeyedMutex();

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.keyed.run('', fn);
  }
}
