/**
 * The ROM port: where the bytes of the ROMs instances carry live on the host.
 * ROM images are resolved like any image (registry, central, pull policy,
 * credentials, the access rule); inline ROMs are packed as EROFS. Either way
 * the bytes are stored once per content digest, and a stored ROM stays while
 * an instance references it or a lease (a create or update in progress)
 * holds it.
 */
import type { InstanceRom, RomFormat } from '../instance.js';
import type { ImageSource } from './images.js';

export interface InlineRomFile {
  /** Relative, normalised (checked by core/instances/rom-input.ts). */
  path: string;
  data: Uint8Array;
}

export type RomSource =
  | { kind: 'image'; ref: string; source?: ImageSource }
  | { kind: 'inline'; files: InlineRomFile[] };

/** A ROM whose bytes are on the host. */
export interface PreparedRom {
  digest: string;
  format: RomFormat;
  sizeBytes: number;
  /** For image ROMs: the manifest (or index) digest the reference resolved to. */
  imageDigest?: string;
}

/** Keeps a prepared ROM's bytes until released; releasing removes them if no instance references them by then. */
export interface RomLease {
  release(): Promise<void>;
}

export interface RomStore {
  /**
   * Makes the ROM's bytes available under their digest and holds them.
   * Errors are HangarErrors; `invalid_argument`/`not_found` ones are about
   * the request (an image that is missing, not a ROM, has several ROM layers).
   */
  prepare(rom: RomSource, user: { uuid: string; admin: boolean }): Promise<{ rom: PreparedRom; lease: RomLease }>;
  /** The host file holding `rom`'s bytes (an image ROM's file is made again from its layer if it went missing). */
  pathFor(rom: InstanceRom): Promise<string>;
  /** Removes the stored bytes of `digests` that no instance references and no lease holds. */
  forget(digests: readonly string[]): Promise<void>;
}
