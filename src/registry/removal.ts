/**
 * DELETE of a manifest or tag over /v2/: the guard (the node's image
 * service) decides whether it may go and runs the delete, so the rule is the
 * one every other removal path asks.
 */
import { HangarError } from '../lib/errors.js';
import { looksLikeDigest } from '../oci/names.js';
import { RegistryError, regError } from './errors.js';
import type { RemovalGuard } from './ports.js';
import type { DiskRegistry } from './store.js';

const plainDelete = (registry: DiskRegistry, repo: string, reference: string): Promise<void> =>
  looksLikeDigest(reference) ? registry.deleteManifest(repo, reference) : registry.deleteTag(repo, reference);

export async function deleteReference(registry: DiskRegistry, guard: RemovalGuard | undefined, repo: string, reference: string): Promise<void> {
  const target = registry.manifests.removalOf(repo, reference);
  // Unknown references fail in the plain delete with the distribution API's own error.
  if (!guard || !target) return plainDelete(registry, repo, reference);
  try {
    await guard.guardRemoval({ ref: `${repo}${looksLikeDigest(reference) ? '@' : ':'}${reference}`, ...target }, async () => {
      // The tag may have moved while the rule was checked: check again what it names now.
      const now = registry.manifests.removalOf(repo, reference);
      if (now && (now.digest !== target.digest || now.lastTag !== target.lastTag)) {
        throw regError('DENIED', `${repo}:${reference} changed while being deleted; try again`, { status: 409, kind: 'failed_precondition' });
      }
      await plainDelete(registry, repo, reference);
    });
  } catch (e) {
    if (e instanceof HangarError && e.kind === 'failed_precondition' && !(e instanceof RegistryError)) {
      throw regError('DENIED', `image ${target.digest} is used by an instance; delete the instance first`, { status: 409, kind: 'failed_precondition', detail: { digest: target.digest } });
    }
    throw e;
  }
}
