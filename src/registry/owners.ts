/**
 * Repository owners in the registry's database: the facts the image
 * service's access rule (core/images/access.ts) reads. The rule is not here;
 * this only records who created a repository and says which repositories
 * exist and hold a blob.
 */
import type { RegistryContext } from './context.js';

export interface RepositoryOwnerRecord {
  /** uuid of the user who owns the repository. */
  owner: string;
  /** Readable by every user (what the admin publishes). */
  public: boolean;
}

export class RepositoryOwners {
  constructor(private readonly c: Pick<RegistryContext, 'd' | 'tx' | 'now'>) {}

  async owner(repo: string): Promise<RepositoryOwnerRecord | undefined> {
    const row = this.c.d.s.repoOwner.get(repo);
    return row ? { owner: row.owner, public: row.public === 1 } : undefined;
  }

  /**
   * Records `rec` as the owner unless one is recorded; returns the owner in
   * force. A repository claimed while it holds no manifest starts clean: blob
   * links an earlier, unowned push left there are dropped, so a new owner
   * cannot reference them.
   */
  async claim(repo: string, rec: RepositoryOwnerRecord): Promise<RepositoryOwnerRecord> {
    const s = this.c.d.s;
    return this.c.tx(() => {
      const had = s.repoOwner.get(repo);
      if (had) return { owner: had.owner, public: had.public === 1 };
      if (!s.repoExists.get(repo)) s.deleteLinksOfRepo.run(repo);
      s.insertRepoOwner.run(repo, rec.owner, rec.public ? 1 : 0, this.c.now());
      return { ...rec };
    });
  }

  /** True when the repository holds a manifest. */
  async exists(repo: string): Promise<boolean> {
    return this.c.d.s.repoExists.get(repo) !== undefined;
  }

  /** Repositories a blob is linked in (where it was pushed, mounted or referenced). */
  async blobRepos(digest: string): Promise<string[]> {
    return this.c.d.s.linkedRepos.all(digest).map((r) => r.repo);
  }

  /**
   * Bytes the owner's repositories hold now: every blob linked in one of them (once) that is still theirs to keep,
   * plus what their open upload sessions have received. Falls when a manifest is deleted or a session ends.
   */
  bytesOwnedBy(owner: string): number {
    const s = this.c.d.s;
    return s.ownedBlobBytes.get({ owner })!.n + s.ownedUploadBytes.get(owner)!.n;
  }
}
