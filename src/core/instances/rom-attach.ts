import { asHangarError, HangarError, invalid } from '../../lib/errors.js';
import type { InstanceRom } from '../instance.js';
import type { RomLease, RomStore } from '../ports/roms.js';
import type { CheckedRom } from './rom-input.js';
import { numberedNames } from './roms.js';

/** ROMs whose bytes are on the host, held until `release` (after the record naming them is stored, or on failure). */
export interface AttachedRoms {
  roms: InstanceRom[];
  release(): Promise<void>;
}

/** A request error of the ROM store, named after the ROM's field; the node's own failures pass unchanged. */
function romError(e: unknown, field: string, kind: 'image' | 'files'): HangarError {
  const err = asHangarError(e);
  if (err.kind === 'invalid_argument' || err.kind === 'not_found' || err.kind === 'permission_denied') return invalid(`${field}.${kind}`, err.message.replace(/^image: /, ''));
  return err;
}

/**
 * Resolves or packs each checked ROM (one at a time: mkfs and pulls are not
 * worth racing on two cores), names the unnamed ones after `existing`, and
 * refuses `at` on a ROM that is not EROFS. On any failure every ROM prepared
 * so far is released (and its bytes removed if nothing else uses them).
 */
export async function attachRoms(store: RomStore, user: { uuid: string; admin: boolean }, checked: readonly CheckedRom[], existing: readonly InstanceRom[] = []): Promise<AttachedRoms> {
  const leases: RomLease[] = [];
  const release = async (): Promise<void> => {
    for (const l of leases.splice(0)) await l.release();
  };
  const numbered = numberedNames(existing, checked.filter((c) => c.name === undefined).length);
  const roms: InstanceRom[] = [];
  try {
    for (const c of checked) {
      const kind = c.source.kind === 'image' ? 'image' : 'files';
      const { rom, lease } = await store.prepare(c.source, user).catch((e: unknown) => {
        throw romError(e, c.field, kind);
      });
      leases.push(lease);
      if (c.at !== undefined && rom.format !== 'erofs') throw invalid(`${c.field}.at`, `only EROFS ROMs can be mounted; this ROM is ${rom.format} (read it from its device instead)`);
      const name = c.name ?? numbered.shift()!;
      roms.push({
        name,
        ...(c.name === undefined ? { numbered: true } : {}),
        ...(c.source.kind === 'image' ? { image: c.source.ref, ...(rom.imageDigest ? { imageDigest: rom.imageDigest } : {}) } : { files: c.source.files.map((f) => f.path) }),
        ...(c.at !== undefined ? { at: c.at } : {}),
        digest: rom.digest,
        format: rom.format,
        sizeBytes: rom.sizeBytes,
      });
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { roms, release };
}
