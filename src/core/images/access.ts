/**
 * Who may read and write which repository: the one access rule that the
 * /v2/ API, the images API, pins and instance creation all ask (through the
 * ImageService).
 *
 * Owner of a repository, first match wins:
 * 1. the owner recorded when a /v2/ push first created it;
 * 2. the user whose name is its first path component (`alice/app` is alice's
 *    namespace), when such a user exists;
 * 3. the admin, public, when it holds images but no owner is recorded
 *    (imports, central pulls, repositories older than owners);
 * 4. nobody: the first user to push claims it (`myapp` becomes theirs).
 *
 * - Read: the admin; the owner; everyone for public repositories; a user
 *   whose instances run an image of the repository (the image's `users`).
 * - Write (push, delete, mount into): the admin; the owner; anyone for a
 *   repository nobody owns (which they then own). A push by the admin
 *   outside a user's namespace records a public repository.
 * - A blob may be mounted or referenced only from a repository the user
 *   can read.
 * - A pull on a user's behalf may land only in a repository nobody has
 *   claimed (the node's cache of remote images) or one they may write.
 * - A pull with the user's own credentials (or registry auth headers) may
 *   land only in a repository that then is theirs, private: a name nobody
 *   has claimed and that holds nothing (it is recorded as theirs, before the
 *   pull), their namespace, or a repository of theirs. Never in the shared
 *   cache, where every user would read what only their credentials fetch.
 */
import { HangarError } from '../../lib/errors.js';
import { lookupNames, parseReference } from '../../oci/reference.js';
import type { ImageUse, Principal, RepositoryDirectory, RepositoryOwner } from './ports.js';

export interface AccessOptions {
  /** Without one every user may do everything (a store opened without a node: the CLI, unit tests). */
  directory?: RepositoryDirectory | undefined;
  /** uuid of the user with this name (namespaces). */
  userNamed?: ((name: string) => Promise<string | undefined>) | undefined;
  /** The uses by `owner` that may name `repo` (a superset; matched exactly here). */
  usesOf: (owner: string, repo: string) => Promise<ImageUse[]>;
}

/** Owner in force: recorded, by namespace, public (unrecorded but holding images), or none. */
type Ownership = { owner: string | undefined; public: boolean; recorded: boolean } | undefined;

export class ImageAccess {
  constructor(private readonly o: AccessOptions) {}

  private async namespaceOwner(repo: string): Promise<string | undefined> {
    const i = repo.indexOf('/');
    if (i <= 0 || !this.o.userNamed) return undefined;
    return this.o.userNamed(repo.slice(0, i));
  }

  private async ownership(repo: string): Promise<Ownership> {
    const dir = this.o.directory;
    if (!dir) return undefined;
    const rec = await dir.owner(repo);
    if (rec) return { owner: rec.owner, public: rec.public, recorded: true };
    const ns = await this.namespaceOwner(repo);
    if (ns !== undefined) return { owner: ns, public: false, recorded: false };
    if (await dir.exists(repo)) return { owner: undefined, public: true, recorded: false };
    return undefined;
  }

  async canRead(user: Principal, repo: string): Promise<boolean> {
    if (user.admin || !this.o.directory) return true;
    const own = await this.ownership(repo);
    if (!own || own.public || own.owner === user.uuid) return true;
    return (await this.o.usesOf(user.uuid, repo)).some((u) => u.owner === user.uuid && refNames(u.ref, repo));
  }

  async canWrite(user: Principal, repo: string): Promise<boolean> {
    if (user.admin || !this.o.directory) return true;
    const own = await this.ownership(repo);
    return !own || (own.owner === user.uuid && !own.public);
  }

  /** Refuses (permission_denied) a write the rule does not allow, else records the owner of a repository nobody owned. */
  async claim(user: Principal, repo: string): Promise<void> {
    const dir = this.o.directory;
    if (!dir) return;
    if (!(await this.canWrite(user, repo))) throw new HangarError('permission_denied', `repository '${repo}' belongs to another user; push to a repository of your own (e.g. '<your user name>/…')`);
    if (await dir.owner(repo)) return;
    const ns = await this.namespaceOwner(repo);
    const rec: RepositoryOwner = ns !== undefined ? { owner: ns, public: false } : { owner: user.uuid, public: user.admin };
    await dir.claim(repo, rec);
  }

  /** True when `digest` is linked in `into` (a repository the user writes) or in a repository the user can read. */
  async canUseBlob(user: Principal, digest: string, into: string): Promise<boolean> {
    if (user.admin || !this.o.directory) return true;
    for (const r of await this.o.directory.blobRepos(digest)) if (r === into || (await this.canRead(user, r))) return true;
    return false;
  }

  /**
   * True when a pull with `user`'s own credentials may store into `repo`; the repository is then recorded as
   * theirs and private (the rule at the top), so nobody else reads what it stores.
   */
  async claimForPrivatePull(user: Principal, repo: string): Promise<boolean> {
    const dir = this.o.directory;
    if (!dir) return true;
    const own = await this.ownership(repo);
    if (own?.recorded) return own.owner === user.uuid && !own.public;
    if (own && own.owner !== user.uuid) return false; // the shared cache, or another user's namespace
    const rec = await dir.claim(repo, { owner: user.uuid, public: false });
    return rec.owner === user.uuid && !rec.public; // someone else may have claimed it meanwhile
  }

  /** True when a pull for `user` may store into `repo`. */
  async mayPullInto(user: Principal, repo: string): Promise<boolean> {
    if (user.admin || !this.o.directory) return true;
    const own = await this.ownership(repo);
    if (!own) return true;
    if (own.recorded) return own.owner === user.uuid && !own.public;
    return own.owner === undefined || own.owner === user.uuid; // the cache of remote images, or their own namespace
  }
}

/** True when the reference `ref` (as a holder was created with) names `repo`. */
function refNames(ref: string | undefined, repo: string): boolean {
  if (ref === undefined) return false;
  try {
    return lookupNames(parseReference(ref)).includes(repo);
  } catch {
    return false;
  }
}
