/**
 * ROMs on an instance: naming, PATCH rules, and what the sandbox gets.
 *
 * - A named ROM is `/dev/ukp_rom_<name>`; an unnamed one is numbered by the
 *   node (`ukp_rom0`, `ukp_rom1` …, the lowest number the instance does not
 *   use) and is `/dev/ukp_rom<N>`; the number stays with it.
 * - `at` mounts an EROFS ROM read-only there before the app starts.
 * - PATCH (`set`, `add`, `del` by name) only while the instance is stopped:
 *   the sandbox gets its ROMs at start, so a change to a live one is refused
 *   (409) rather than queued.
 */
import { HangarError, invalid } from '../../lib/errors.js';
import type { Instance, InstanceRom } from '../instance.js';
import type { SandboxDevice, SandboxMount } from '../ports/runtime.js';
import { NUMBERED_PREFIX } from './rom-input.js';

export const romDevicePath = (rom: Pick<InstanceRom, 'name' | 'numbered'>): string =>
  rom.numbered ? `/dev/${rom.name}` : `/dev/${NUMBERED_PREFIX}_${rom.name}`;

/** The names `count` unnamed ROMs get on an instance that has `existing`. */
export function numberedNames(existing: readonly Pick<InstanceRom, 'name' | 'numbered'>[], count: number): string[] {
  const used = new Set(existing.filter((r) => r.numbered).map((r) => r.name));
  const out: string[] = [];
  for (let n = 0; out.length < count; n++) {
    const name = `${NUMBERED_PREFIX}${n}`;
    if (!used.has(name)) out.push(name);
  }
  return out;
}

/** Refuses a ROM change unless the instance is stopped. */
export function assertRomsChangeable(inst: Instance): void {
  if (inst.state !== 'stopped') {
    throw new HangarError('failed_precondition', `roms can only be changed while the instance is stopped (instance '${inst.name}' is ${inst.state}); stop it first, the change takes effect at the next start`);
  }
}

/** The ROMs left after `del` of `names` (all of them when no names are given); an unknown name is an error naming `value`. */
export function deleteRoms(roms: readonly InstanceRom[], names: readonly string[] | undefined): InstanceRom[] {
  if (names === undefined) return [];
  names.forEach((n, i) => {
    if (!roms.some((r) => r.name === n)) throw invalid(names.length === 1 ? 'value' : `value[${i}]`, `the instance has no ROM named '${n}'`);
  });
  return roms.filter((r) => !names.includes(r.name));
}

/** Digests `before` held that `after` does not: their stored bytes may go. */
export const droppedDigests = (before: readonly InstanceRom[], after: readonly InstanceRom[]): string[] =>
  [...new Set(before.map((r) => r.digest))].filter((d) => !after.some((r) => r.digest === d));

/** What the sandbox gets for each ROM: always its device, plus a read-only EROFS mount at `at`. */
export function romSandboxParts(roms: ReadonlyArray<{ rom: InstanceRom; path: string }>): { devices: SandboxDevice[]; mounts: SandboxMount[] } {
  const devices: SandboxDevice[] = [];
  const mounts: SandboxMount[] = [];
  for (const { rom, path } of roms) {
    devices.push({ path: romDevicePath(rom), source: path, readonly: true });
    if (rom.at !== undefined) mounts.push({ type: 'image', source: path, target: rom.at, fsType: 'erofs', readonly: true });
  }
  return { devices, mounts };
}
