/**
 * Mutual exclusion per key (an instance uuid), across everything that may act
 * on the instance. The embedded node implements it in-process (lib/mutex);
 * several nodes sharing PostgreSQL can implement it with advisory locks.
 */
export interface Locks {
  /** Runs fn once no other holder of `key` runs, in call order; releases when it settles. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}
