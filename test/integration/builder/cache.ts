/**
 * Where the build tests keep their build cache (runtimes, buildah's storage):
 * $HANGAR_BUILD_CACHE, else build/cache/ in the checkout, so the runtimes are
 * built once and shared by every build test of a run (and by later runs).
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(import.meta.url), '../../../../..');
export const BUILD_CACHE = process.env['HANGAR_BUILD_CACHE'] ?? join(REPO, 'build', 'cache');
export const EXAMPLES = join(REPO, 'examples');
export const isRoot = process.getuid?.() === 0;
