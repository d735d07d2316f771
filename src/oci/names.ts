/**
 * The OCI distribution name grammar (github.com/distribution/reference), the
 * one copy every layer checks names against:
 *
 *   repository  := [domain '/'] component ('/' component)*     at most 255 characters
 *   component   := [a-z0-9]+ (('.' | '_' | '__' | '-'+) [a-z0-9]+)*
 *   domain      := domain-component ('.' domain-component)* [':' port]   (or [IPv6])
 *   tag         := [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 *   digest      := 'sha256:' [a-f0-9]{64}               (the only algorithm hangar accepts)
 *
 * The first component is a registry host when it contains '.' or ':', is
 * `localhost`, or is a bracketed IPv6 address (Docker's rule).
 */

export const REPO_NAME_MAX = 255;
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export const isTag = (s: string): boolean => TAG_RE.test(s);
export const isDigest = (s: string): boolean => DIGEST_RE.test(s);
/** Of the digest grammar with any algorithm (so a reference is a digest, maybe an unsupported one, rather than a tag). */
export const isAnyDigest = (s: string): boolean => ANY_DIGEST_RE.test(s);
export const looksLikeDigest = (s: string): boolean => s.includes(':') && ANY_DIGEST_RE.test(s);
export const isPathComponent = (s: string): boolean => COMPONENT_RE.test(s);
export const isDomain = (s: string): boolean => DOMAIN_RE.test(s);
/** True when the first component of a name is a registry host rather than a path component. */
export const looksLikeHost = (first: string): boolean => first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[');

/** Why `name` is not a repository name, or undefined when it is one. `allowHost`: it may start with a registry host. */
export function repoNameProblem(name: string, allowHost = false): string | undefined {
  if (name.length === 0) return 'repository name is empty';
  if (name.length > REPO_NAME_MAX) return `repository name is longer than ${REPO_NAME_MAX} characters`;
  const parts = name.split('/');
  const hasHost = allowHost && parts.length > 1 && looksLikeHost(parts[0]!);
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

/** A repository path as stored and served (no registry host). */
export const isRepositoryName = (name: string): boolean => repoNameProblem(name) === undefined;
