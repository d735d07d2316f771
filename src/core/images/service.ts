/**
 * ImageService: the one owner of "is this image in use, is it pinned, may it
 * be removed, what must garbage collection keep". The registry's /v2/
 * deletes, the image store and the images API all ask it, so the rule is
 * the same wherever an image is removed from.
 *
 * - In use: a digest (and, for an index, its entries) while any reference
 *   source names it, or while an instance is being created from it (a lease).
 * - Pinned: a pin's digest and its index's entries (GC roots, not removable).
 * - May remove: refused when the image leaves the node (`lastTag`) and is in
 *   use or pinned, and when a tag goes that a holder was created by (its
 *   restarts resolve the name again).
 * - Access: who may read and write which repository (access.ts; the /v2/
 *   API, the images API, pins and the puller ask through this service).
 * - Removals and collections run one at a time, each after computing what is
 *   in use, so nothing becomes used between the check and the delete.
 */
import { HangarError } from '../../lib/errors.js';
import { Mutex } from '../../lib/mutex.js';
import { DEFAULT_TAG, lookupNames, parseReference } from '../../oci/reference.js';
import type { Clock } from '../ports/clock.js';
import { ImageAccess } from './access.js';
import type { ImageReferenceSource, ImageUse, PinRecord, PinStore, Principal, RemovalTarget, RepositoryDirectory } from './ports.js';

/** Refused removal: who holds the image, or that it is pinned. */
export class ImageInUseError extends HangarError {
  readonly holders: ImageUse[];
  readonly pinned: boolean;

  constructor(ref: string, holders: ImageUse[], pinned: boolean) {
    const names = holders.slice(0, 5).map((h) => h.by).join(', ');
    super(
      'failed_precondition',
      pinned
        ? `image '${ref}' is pinned; unpin it first (DELETE /v1/images)`
        : `image '${ref}' is used by ${holders.length} instance(s) (${names}${holders.length > 5 ? ', …' : ''}); delete them first`,
    );
    this.holders = holders;
    this.pinned = pinned;
  }
}

export interface ImageServiceOptions {
  pins: PinStore;
  clock: Clock;
  sources?: ImageReferenceSource[];
  /** Repository owners for the access rule (access.ts); without it every user may do everything. */
  repositories?: RepositoryDirectory;
  /** uuid of the user with this name: a user's namespace (`<name>/…`) is theirs. */
  userNamed?: (name: string) => Promise<string | undefined>;
  /** How long a lease outlives the resolve that took it: the instance record is stored right after (default 60 s). */
  leaseLingerMs?: number;
}

interface Lease {
  digests: readonly string[];
  /** ms since the epoch; Infinity while held. */
  until: number;
}

export class ImageService {
  private readonly pinStore: PinStore;
  private readonly clock: Clock;
  private readonly sources: ImageReferenceSource[];
  private readonly linger: number;
  private readonly leases = new Set<Lease>();
  private readonly mutex = new Mutex();
  private readonly access: ImageAccess;

  constructor(o: ImageServiceOptions) {
    this.access = new ImageAccess({ directory: o.repositories, userNamed: o.userNamed, usesOf: (owner, repo) => this.usesOf(owner, repo) });
    this.pinStore = o.pins;
    this.clock = o.clock;
    this.sources = [...(o.sources ?? [])];
    this.linger = o.leaseLingerMs ?? 60_000;
  }

  /** Adds a kind of holder (ROMs, volumes, templates). */
  addSource(source: ImageReferenceSource): void {
    this.sources.push(source);
  }

  /** Every use of every image, from every source, and the leases of creates in progress. */
  async uses(): Promise<ImageUse[]> {
    const out: ImageUse[] = [];
    for (const s of this.sources) out.push(...(await s.references()));
    return out;
  }

  /** The uses by `owner` that may name `repo`: per-owner queries where the source has one. */
  private async usesOf(owner: string, repo: string): Promise<ImageUse[]> {
    const out: ImageUse[] = [];
    for (const s of this.sources) out.push(...(s.referencesOf ? await s.referencesOf(owner, repo) : (await s.references()).filter((u) => u.owner === owner)));
    return out;
  }

  private leased(): ImageUse[] {
    const now = this.clock.now().getTime();
    const out: ImageUse[] = [];
    for (const l of this.leases) {
      if (l.until <= now) this.leases.delete(l);
      else for (const digest of l.digests) out.push({ digest, by: 'an instance being created' });
    }
    return out;
  }

  // --- access (the rule is access.ts's) ------------------------------------------

  canRead(user: Principal, repo: string): Promise<boolean> {
    return this.access.canRead(user, repo);
  }

  canWrite(user: Principal, repo: string): Promise<boolean> {
    return this.access.canWrite(user, repo);
  }

  /** Refuses a write the rule does not allow; records the owner of a repository nobody owned. */
  claim(user: Principal, repo: string): Promise<void> {
    return this.access.claim(user, repo);
  }

  canUseBlob(user: Principal, digest: string, into: string): Promise<boolean> {
    return this.access.canUseBlob(user, digest, into);
  }

  mayPullInto(user: Principal, repo: string): Promise<boolean> {
    return this.access.mayPullInto(user, repo);
  }

  /** For a pull with the user's own credentials: records `repo` as theirs and private, or refuses (false). */
  claimForPrivatePull(user: Principal, repo: string): Promise<boolean> {
    return this.access.claimForPrivatePull(user, repo);
  }

  // --- pins ---------------------------------------------------------------------

  /** The pins in force (expired ones are dropped here). */
  async pins(): Promise<PinRecord[]> {
    const now = this.clock.now().getTime();
    const live: PinRecord[] = [];
    for (const p of await this.pinStore.all()) {
      if (p.expiresAt !== undefined && Date.parse(p.expiresAt) <= now) await this.pinStore.remove(p.uuid);
      else live.push(p);
    }
    return live;
  }

  pin(p: PinRecord): Promise<void> {
    return this.pinStore.put(p);
  }

  async unpin(uuid: string): Promise<void> {
    await this.pinStore.remove(uuid);
  }

  /** A test over the pins in force, for checking many digests at once. */
  async pinnedTest(): Promise<(digest: string) => boolean> {
    const held = new Set<string>();
    for (const p of await this.pins()) {
      if (p.digest) held.add(p.digest);
      for (const c of p.children ?? []) held.add(c);
    }
    return (d) => held.has(d);
  }

  // --- rules ----------------------------------------------------------------------

  /** Why `target` may not be removed, or undefined when it may. */
  async refusal(target: RemovalTarget): Promise<ImageInUseError | undefined> {
    const digests = new Set([target.digest, ...(target.children ?? [])]);
    const all = [...(await this.uses()), ...this.leased()];
    const holders = all.filter((u) => (target.lastTag && u.digest !== undefined && digests.has(u.digest)) || (target.tag !== undefined && namesTag(u.ref, target.tag.repo, target.tag.tag)));
    if (holders.length > 0) return new ImageInUseError(target.ref, holders, false);
    if (target.lastTag) {
      const pinned = await this.pinnedTest();
      if ([...digests].some(pinned)) return new ImageInUseError(target.ref, [], true);
    }
    return undefined;
  }

  /** Runs `remove` when the rule allows it; nothing becomes used between the check and the removal. */
  guardRemoval<T>(target: RemovalTarget, remove: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      const refused = await this.refusal(target);
      if (refused) throw refused;
      return remove();
    });
  }

  /** What garbage collection must keep: digests in use, leased or pinned (with an index's entries). */
  async keepSet(): Promise<Set<string>> {
    const keep = new Set<string>();
    for (const u of [...(await this.uses()), ...this.leased()]) if (u.digest !== undefined) keep.add(u.digest);
    for (const p of await this.pins()) {
      if (p.digest) keep.add(p.digest);
      for (const c of p.children ?? []) keep.add(c);
    }
    return keep;
  }

  /** Runs a collection with the keep-set, alone (no removal, lease or other collection meanwhile). */
  collect<T>(gc: (keep: (digest: string) => boolean) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      const keep = await this.keepSet();
      return gc((d) => keep.has(d));
    });
  }

  /**
   * Keeps `digests` from collection and removal while an instance is created
   * from them; the lease outlives its release by `lingerMs` (default
   * `leaseLingerMs`), until the instance is stored and its reference source
   * names it. A caller that knows the record is stored (or that the create
   * failed) releases with 0, so removing the image right after deleting its
   * last instance is not refused for the linger.
   */
  async lease(digests: readonly string[]): Promise<(lingerMs?: number) => void> {
    const l: Lease = { digests: [...digests], until: Infinity };
    await this.mutex.run(async () => {
      this.leases.add(l);
    });
    return (lingerMs = this.linger) => {
      l.until = Math.min(l.until, this.clock.now().getTime() + lingerMs);
    };
  }
}

/** True when the reference `ref` (as a holder was created with) names `repo:tag`. */
function namesTag(ref: string | undefined, repo: string, tag: string): boolean {
  if (ref === undefined) return false;
  try {
    const r = parseReference(ref);
    return r.digest === undefined && (r.tag ?? DEFAULT_TAG) === tag && lookupNames(r).includes(repo);
  } catch {
    return false;
  }
}
