/**
 * Image references: `name[:tag][@sha256:…]`, where name may start with a
 * registry host (`localhost:5000/ns/app`), checked against the grammar of
 * names.ts with messages that say which part is wrong. Docker Hub names
 * are kept in their short "familiar" form: `docker.io/library/nginx` → `nginx`.
 */
import { invalid } from '../lib/errors.js';
import { REPO_NAME_MAX, isAnyDigest, isDigest, isDomain, isPathComponent, isTag, looksLikeHost } from './names.js';

export interface ImageReference {
  /** Registry host[:port], absent for local and Docker Hub names. */
  domain: string | undefined;
  /** Repository path without the host, e.g. `hello` or `team/app`. */
  path: string;
  /** Tag when one was given. */
  tag: string | undefined;
  /** `sha256:<hex>` when one was given. */
  digest: string | undefined;
}

export const DEFAULT_TAG = 'latest';
export const NAME_MAX_LENGTH = REPO_NAME_MAX;
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** Parses and validates a reference; throws HangarError('invalid_argument') naming `field`. */
export function parseReference(input: string, field = 'image'): ImageReference {
  if (typeof input !== 'string' || input.length === 0) throw invalid(field, 'image reference is empty');
  if (input.length > NAME_MAX_LENGTH + 1 + 128 + 1 + 7 + 64) throw invalid(field, `image reference is too long (${input.length} characters)`);
  if (/\s/.test(input)) throw invalid(field, `image reference '${shorten(input)}' contains whitespace`);

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isAnyDigest(digest)) throw invalid(field, `'${shorten(input)}': malformed digest '${shorten(digest)}'`);
    if (!digest.startsWith('sha256:')) throw invalid(field, `'${shorten(input)}': unsupported digest algorithm '${digest.split(':')[0]}' (only sha256)`);
    if (!isDigest(digest)) throw invalid(field, `'${shorten(input)}': a sha256 digest is 64 lowercase hex characters`);
  }

  // A tag is whatever follows the last ':' that comes after the last '/'.
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag.length === 0) throw invalid(field, `'${shorten(input)}': empty tag`);
    if (!isTag(tag)) {
      throw invalid(field, `'${shorten(input)}': invalid tag '${shorten(tag)}' (letters, digits, '_', '.', '-'; at most 128, not starting with '.' or '-')`);
    }
  }

  if (rest.length === 0) throw invalid(field, `'${shorten(input)}': missing image name`);
  if (rest.length > NAME_MAX_LENGTH) throw invalid(field, `image name is too long (${rest.length} > ${NAME_MAX_LENGTH} characters)`);

  let domain: string | undefined;
  let path = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (looksLikeHost(first) || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(firstSlash + 1);
      if (!isDomain(domain)) throw invalid(field, `'${shorten(input)}': invalid registry host '${shorten(domain)}'`);
      const port = /:([0-9]+)$/.exec(domain)?.[1];
      if (port !== undefined && Number(port) > 65535) throw invalid(field, `'${shorten(input)}': invalid registry port ${port}`);
    }
  }
  if (path.length === 0) throw invalid(field, `'${shorten(input)}': missing repository name`);
  for (const c of path.split('/')) {
    if (c.length === 0) throw invalid(field, `'${shorten(input)}': empty path component in repository name`);
    if (c !== c.toLowerCase()) throw invalid(field, `'${shorten(input)}': repository name must be lowercase`);
    if (!isPathComponent(c)) {
      throw invalid(field, `'${shorten(input)}': invalid repository name component '${shorten(c)}' (lowercase letters and digits, separated by '.', '_', '__' or '-')`);
    }
  }

  if (domain !== undefined && DOCKER_HUB.has(domain.toLowerCase())) {
    domain = undefined;
    if (path.startsWith('library/') && path.split('/').length === 2) path = path.slice('library/'.length);
  }
  return { domain, path, tag, digest };
}

/** `host/path` or `path`. */
export const repositoryName = (r: ImageReference): string => (r.domain ? `${r.domain}/${r.path}` : r.path);

/** `name:tag`, the tag defaulting to `latest` (ignores any digest). */
export const taggedName = (r: ImageReference, tag = r.tag ?? DEFAULT_TAG): string => `${repositoryName(r)}:${tag}`;

/** Canonical string: `name@sha256:…` for digest references, else `name:tag` (tag defaulting to latest). */
export function formatReference(r: ImageReference): string {
  if (r.digest) return `${repositoryName(r)}@${r.digest}`;
  return taggedName(r);
}

/** Parses and returns the canonical form (`hello` → `hello:latest`). */
export const normalizeReference = (input: string, field = 'image'): string => formatReference(parseReference(input, field));

/** Names a local lookup should try for `r`, most specific first: the full name, then the name without its registry host. */
export function lookupNames(r: ImageReference): string[] {
  const names = [repositoryName(r)];
  if (r.domain) names.push(r.path);
  return names;
}

function shorten(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
