/**
 * The OCI name grammar (src/oci/names.ts) as registry errors. Names pushed
 * over /v2/ follow it exactly; names given by the node itself (imports,
 * central pulls) may also start with a registry host (`localhost:5000/team/app`),
 * which is how they were referred to.
 */
import { isDigest, isTag, looksLikeDigest, repoNameProblem } from '../oci/names.js';
import { regError } from './errors.js';

export function checkRepoName(name: string, allowHost = false): void {
  const p = repoNameProblem(name, allowHost);
  if (p) throw regError('NAME_INVALID', p, { detail: { name: name.slice(0, 300) }, field: 'name' });
}

export function checkDigest(digest: string): void {
  if (isDigest(digest)) return;
  if (looksLikeDigest(digest) && !digest.startsWith('sha256:')) {
    throw regError('DIGEST_INVALID', `unsupported digest algorithm '${digest.split(':')[0]!.slice(0, 40)}' (only sha256)`, { detail: { digest: digest.slice(0, 200) } });
  }
  throw regError('DIGEST_INVALID', `malformed digest '${digest.slice(0, 100)}' (expected sha256:<64 lowercase hex>)`, { detail: { digest: digest.slice(0, 200) } });
}

export function checkTag(tag: string): void {
  if (!isTag(tag)) throw regError('MANIFEST_INVALID', `invalid tag '${tag.slice(0, 130)}'`, { detail: { tag: tag.slice(0, 200) } });
}
