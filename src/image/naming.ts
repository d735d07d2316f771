/**
 * Decides the ref each image of an imported layout is stored under.
 *
 * With an explicit ref (`import(path, { ref })`): a layout holding one image gets
 * that ref (`:latest` when it has no tag); in a layout holding several, the ref
 * selects the image whose annotation names it (by tag or by full name).
 *
 * Without one, per image: `io.containerd.image.name` (a full name) if present;
 * else `org.opencontainers.image.ref.name` — a full reference when it has a ':'
 * or '/' (`hello:latest`, as `skopeo copy … oci-archive:x.tar:hello:latest`
 * writes), otherwise a tag (the OCI convention, e.g. `latest`) for a name taken
 * from the file or directory name (`hello.oci.tar` → `hello`); without any
 * annotation, `<that name>:latest`.
 */
import { basename } from 'node:path';
import { invalid } from '../lib/errors.js';
import type { LayoutImage } from './oci-layout.js';
import { isTag } from '../oci/names.js';
import { DEFAULT_TAG, parseReference, repositoryName, taggedName } from '../oci/reference.js';

export interface NamedImage {
  ref: string;
  image: LayoutImage;
}

/** `hello.oci.tar` → `hello`; undefined when the base name is not a valid repository name. */
export function nameFromPath(path: string): string | undefined {
  let b = basename(path.replace(/\/+$/, '')).toLowerCase();
  for (;;) {
    const stripped = b.replace(/\.(tar|tgz|gz|oci|ociarchive|oci-archive|layout)$/, '');
    if (stripped === b) break;
    b = stripped;
  }
  try {
    const r = parseReference(b, 'ref');
    return r.tag || r.digest ? undefined : repositoryName(r);
  } catch {
    return undefined;
  }
}

function tryRef(s: string | undefined): string | undefined {
  if (s === undefined || !(s.includes(':') || s.includes('/'))) return undefined;
  try {
    const r = parseReference(s, 'ref');
    return r.digest ? undefined : taggedName(r);
  } catch {
    return undefined;
  }
}

/** The tag an image's annotations give it (used to pick among several images). */
function annotatedTag(img: LayoutImage): string | undefined {
  const full = tryRef(img.fullName) ?? tryRef(img.refName);
  if (full) return full.slice(full.lastIndexOf(':') + 1);
  return img.refName !== undefined && isTag(img.refName) ? img.refName : undefined;
}

export function nameImages(images: readonly LayoutImage[], sourcePath: string, explicitRef?: string): NamedImage[] {
  let named: NamedImage[];
  if (explicitRef !== undefined) {
    const r = parseReference(explicitRef, 'ref');
    if (r.digest) throw invalid('ref', `'${explicitRef}': import needs a name[:tag], not a digest`);
    const ref = taggedName(r);
    if (images.length === 1) {
      named = [{ ref, image: images[0]! }];
    } else {
      const tag = r.tag ?? DEFAULT_TAG;
      const hits = images.filter((img) => tryRef(img.fullName) === ref || tryRef(img.refName) === ref || annotatedTag(img) === tag);
      const distinct = new Set(hits.map((h) => h.manifest.digest));
      if (distinct.size !== 1) {
        throw invalid('ref', `the layout holds ${images.length} images and ${distinct.size === 0 ? 'none' : 'several'} of them match '${explicitRef}'`);
      }
      named = [{ ref, image: hits[0]! }];
    }
  } else {
    let fallback: string | undefined | null = null;
    const fallbackName = (): string => {
      if (fallback === null) fallback = nameFromPath(sourcePath);
      if (fallback === undefined) throw invalid('ref', `cannot tell the image's name from '${basename(sourcePath)}'; pass a ref`);
      return fallback;
    };
    named = images.map((image) => {
      const full = tryRef(image.fullName) ?? tryRef(image.refName);
      if (full) return { ref: full, image };
      if (image.refName !== undefined) {
        if (!isTag(image.refName)) throw invalid('ref', `annotation ref.name '${image.refName.slice(0, 80)}' is neither a tag nor a reference`);
        return { ref: `${fallbackName()}:${image.refName}`, image };
      }
      if (images.length > 1) throw invalid('ref', `the layout holds ${images.length} images and some have no ref.name annotation; pass a ref`);
      return { ref: `${fallbackName()}:${DEFAULT_TAG}`, image };
    });
  }
  const byRef = new Map<string, NamedImage>();
  for (const n of named) {
    const prev = byRef.get(n.ref);
    if (prev && prev.image.manifest.digest !== n.image.manifest.digest) {
      throw invalid('ref', `the layout names two different images '${n.ref}'`);
    }
    byRef.set(n.ref, n);
  }
  return [...byRef.values()];
}
