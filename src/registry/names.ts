/**
 * Names the registry stores, per the OCI distribution grammar:
 *
 *   repository  := component ('/' component)*          at most 255 characters
 *   component   := [a-z0-9]+ (('.' | '_' | '__' | '-'+) [a-z0-9]+)*
 *   tag         := [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 *   digest      := 'sha256:' [a-f0-9]{64}               (the only algorithm stored)
 *
 * Names pushed over /v2/ follow it exactly. Names given by the node itself
 * (imports, central pulls) may also start with a registry host
 * (`localhost:5000/team/app`), which is how they were referred to.
 */
import { regError } from './errors.js';

export const REPO_NAME_MAX = 255;
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_RE = /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export const isTag = (s: string): boolean => TAG_RE.test(s);
export const isDigest = (s: string): boolean => DIGEST_RE.test(s);
/** Looks like a digest of some algorithm (so a reference is a digest, maybe an unsupported one, rather than a tag). */
export const looksLikeDigest = (s: string): boolean => s.includes(':') && ANY_DIGEST_RE.test(s);

/** Why `name` is not a repository name, or undefined when it is one. */
export function repoNameProblem(name: string, allowHost = false): string | undefined {
  if (name.length === 0) return 'repository name is empty';
  if (name.length > REPO_NAME_MAX) return `repository name is longer than ${REPO_NAME_MAX} characters`;
  const parts = name.split('/');
  const first = parts[0]!;
  const hasHost = allowHost && parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  for (const [i, c] of parts.entries()) {
    if (i === 0 && hasHost) {
      if (!DOMAIN_RE.test(c)) return `invalid registry host '${c.slice(0, 80)}'`;
      continue;
    }
    if (c.length === 0) return 'repository name has an empty component';
    if (c === '.' || c === '..') return 'repository name has a relative path component';
    if (!COMPONENT_RE.test(c)) return `invalid repository name component '${c.slice(0, 80)}' (lowercase letters and digits, separated by '.', '_', '__' or '-')`;
  }
  return undefined;
}

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
