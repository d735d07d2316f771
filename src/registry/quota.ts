/**
 * The registry quota while bytes arrive. What a user holds is read from the
 * registry itself (`RepositoryOwners.bytesOwnedBy`: blobs linked in their
 * repositories and open upload sessions), so it falls when their images are
 * deleted and collected. Bodies still arriving are not in it yet: each body
 * reserves room in steps (one check per step instead of one transaction per
 * chunk, which cost large pushes a tenth of their throughput) and gives the
 * reservation back when its request ends, when the bytes are counted by the
 * registry instead.
 */
import type { RegistryUser } from './ports.js';

export interface QuotaMeterOptions {
  /** Bytes the user's repositories hold now. */
  stored(userUuid: string): number;
  /** Throws when `adding` more bytes on top of `used` would pass the user's quota. */
  admit(user: RegistryUser, used: number, adding: number): void;
  /** Bytes reserved per step (default 32 MiB). */
  step?: number;
}

/** The meter of one request body: `take` each chunk before it is accepted, `done` once the request ended. */
export interface BodyMeter {
  take(bytes: number): void;
  done(): void;
}

const UNMETERED: BodyMeter = { take: () => undefined, done: () => undefined };

export class UploadQuota {
  /** user uuid → bytes reserved by bodies in progress. */
  private readonly reserved = new Map<string, number>();
  private readonly step: number;

  constructor(private readonly o: QuotaMeterOptions) {
    this.step = o.step ?? 32 * 1024 * 1024;
  }

  /** Bytes the user holds plus what their bodies in progress reserved (what `/v1/users/quotas` shows as used). */
  used(userUuid: string): number {
    return this.o.stored(userUuid) + (this.reserved.get(userUuid) ?? 0);
  }

  meter(user: RegistryUser): BodyMeter {
    if (user.admin) return UNMETERED; // no quota: no reads at all
    let mine = 0;
    let seen = 0;
    const add = (n: number): void => {
      this.reserved.set(user.uuid, (this.reserved.get(user.uuid) ?? 0) + n);
      mine += n;
    };
    return {
      take: (bytes) => {
        seen += bytes;
        if (seen <= mine) return;
        const need = seen - mine;
        const used = this.used(user.uuid);
        try {
          this.o.admit(user, used, Math.max(need, this.step));
          add(Math.max(need, this.step));
        } catch (e) {
          // A whole step does not fit: near the limit, reserve exactly what arrived (or refuse it).
          if (need >= this.step) throw e;
          this.o.admit(user, used, need);
          add(need);
        }
      },
      done: () => {
        const left = (this.reserved.get(user.uuid) ?? 0) - mine;
        if (left > 0) this.reserved.set(user.uuid, left);
        else this.reserved.delete(user.uuid);
        mine = 0;
      },
    };
  }
}
