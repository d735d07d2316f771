/**
 * Choosing the manifest of an index a node can use. Which platforms fit is a
 * policy, not a constant: importing an OCI layout wants a linux/amd64
 * container image; the node's pulls also take Unikraft VMM platforms
 * (kraftcloud, qemu, fc, …), which their own drivers will run.
 */
import type { Descriptor, Platform } from './descriptor.js';
import { INDEX_TYPES, MANIFEST_TYPES } from './media-types.js';

export interface PlatformPolicy {
  /** Architectures accepted (their spellings: `amd64`, `x86_64`). */
  architectures: readonly string[];
  /** Operating systems in the order preferred. */
  os: readonly string[];
  /** Whether an entry of an accepted architecture with an unlisted os fits (after the listed ones). */
  otherOs: boolean;
}

/** Plain container images for this machine. */
export const LINUX_AMD64: PlatformPolicy = { architectures: ['amd64'], os: ['linux'], otherOs: false };

/** Anything this machine's drivers may run: linux first, then the Unikraft VMM platforms (unikraft says x86_64, OCI amd64). */
export const NODE_PLATFORMS: PlatformPolicy = { architectures: ['amd64', 'x86_64'], os: ['linux', 'kraftcloud', 'qemu', 'fc', 'firecracker', 'xen'], otherOs: true };

/** `qemu/x86_64` for a platform, undefined without one. */
export function platformString(p: Partial<Platform> | undefined): string | undefined {
  if (!p || !p.os || !p.architecture) return undefined;
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

const isImageEntry = (d: Descriptor): boolean => MANIFEST_TYPES.has(d.mediaType) || INDEX_TYPES.has(d.mediaType);
const archFits = (p: Platform, policy: PlatformPolicy): boolean => policy.architectures.includes(p.architecture);
const osFits = (p: Platform, policy: PlatformPolicy): boolean => policy.otherOs || policy.os.includes(p.os);

/** True when a platform (absent: unknown) fits the policy. */
export const platformFits = (p: Platform | undefined, policy: PlatformPolicy): boolean => p !== undefined && archFits(p, policy) && osFits(p, policy);

/**
 * The entry of an index the policy picks: the first os in its order, then
 * (if allowed) any other os of the architecture; an entry without a platform
 * only when it is the only image entry without one. Undefined when nothing fits.
 * Attestation manifests (buildkit) carry platform unknown/unknown and never fit.
 */
export function pickManifest<T extends Descriptor>(entries: readonly T[], policy: PlatformPolicy): T | undefined {
  const usable = entries.filter(isImageEntry);
  const fitting = usable.filter((e) => e.platform && archFits(e.platform, policy));
  for (const os of policy.os) {
    const hit = fitting.find((e) => e.platform!.os === os);
    if (hit) return hit;
  }
  if (policy.otherOs && fitting[0]) return fitting[0];
  const bare = usable.filter((e) => !e.platform);
  return bare.length === 1 ? bare[0] : undefined;
}

/** The image entries that fit the policy, plus those without a platform. */
export const entriesFitting = <T extends Descriptor>(entries: readonly T[], policy: PlatformPolicy): T[] =>
  entries.filter((e) => isImageEntry(e) && (!e.platform || platformFits(e.platform, policy)));
