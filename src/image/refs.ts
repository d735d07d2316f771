/**
 * The ref index `<root>/refs.json`: canonical `name:tag` → manifest digest and
 * the image facts `list()` needs, plus "dangling" digests — images a re-import
 * untagged, kept (with their rootfs) until pruned because instances may still
 * run from them. Written atomically; the in-memory copy is the source of truth
 * while the process runs.
 */
import { readFile, stat } from 'node:fs/promises';
import { HangarError } from '../lib/errors.js';
import type { ImageConfig } from '../core/ports/images.js';
import { atomicWriteFile } from './fs-util.js';
import { isValidDigest, lookupNames, parseReference, repositoryName, type ImageReference, DEFAULT_TAG } from './reference.js';

export interface RefEntry {
  /** Manifest digest. */
  digest: string;
  manifestSize: number;
  manifestMediaType: string;
  configDigest: string;
  /** When this tag was first pointed at this digest on this node. */
  createdAt: string;
  /** Sum of layer blob sizes. */
  sizeBytes: number;
  config: ImageConfig;
}

interface RefsFile {
  version: 1;
  refs: Record<string, RefEntry>;
  dangling: Record<string, RefEntry>;
}

export interface Match {
  /** The stored key (`name:tag`). */
  key: string;
  entry: RefEntry;
}

const isEntry = (v: unknown): v is RefEntry => {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e['digest'] === 'string' && isValidDigest(e['digest']) && typeof e['configDigest'] === 'string' && typeof e['createdAt'] === 'string' &&
    typeof e['sizeBytes'] === 'number' && typeof e['manifestSize'] === 'number' && typeof e['manifestMediaType'] === 'string' &&
    typeof e['config'] === 'object' && e['config'] !== null;
};

export class RefIndex {
  readonly refs = new Map<string, RefEntry>();
  /** digest → facts of untagged images still on disk. */
  readonly dangling = new Map<string, RefEntry>();

  constructor(
    private readonly file: string,
    private readonly tmpDir: string,
  ) {}

  private loadedMtimeMs = -1;

  /**
   * Re-reads refs.json if another process (the `hangar image import` CLI on the
   * same HANGAR_HOME) rewrote it since we last read it. Returns true if it did.
   */
  async reloadIfChanged(): Promise<boolean> {
    let mtime: number;
    try {
      mtime = (await stat(this.file)).mtimeMs;
    } catch {
      return false;
    }
    if (mtime === this.loadedMtimeMs) return false;
    await this.load();
    return true;
  }

  async load(): Promise<void> {
    let text: string;
    try {
      this.loadedMtimeMs = (await stat(this.file)).mtimeMs;
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    let doc: Partial<RefsFile>;
    try {
      doc = JSON.parse(text) as Partial<RefsFile>;
    } catch (e) {
      throw new HangarError('internal', `${this.file} is corrupt: ${(e as Error).message}`, { cause: e });
    }
    if (doc.version !== 1 || typeof doc.refs !== 'object' || doc.refs === null) throw new HangarError('internal', `${this.file}: unknown format`);
    this.refs.clear();
    this.dangling.clear();
    for (const [k, v] of Object.entries(doc.refs)) {
      if (!isEntry(v)) throw new HangarError('internal', `${this.file}: malformed entry for '${k}'`);
      this.refs.set(k, v);
    }
    for (const [k, v] of Object.entries(doc.dangling ?? {})) {
      if (isEntry(v)) this.dangling.set(k, v);
    }
  }

  async save(): Promise<void> {
    const doc: RefsFile = {
      version: 1,
      refs: Object.fromEntries([...this.refs.entries()].sort(([a], [b]) => a.localeCompare(b))),
      dangling: Object.fromEntries(this.dangling.entries()),
    };
    await atomicWriteFile(this.file, `${JSON.stringify(doc, null, 2)}\n`, this.tmpDir);
    this.loadedMtimeMs = (await stat(this.file)).mtimeMs;
  }

  /** Runs `fn`; if it throws, the in-memory index is put back as it was (so it never runs ahead of refs.json). */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    const refs = new Map(this.refs);
    const dangling = new Map(this.dangling);
    try {
      return await fn();
    } catch (e) {
      this.refs.clear();
      for (const [k, v] of refs) this.refs.set(k, v);
      this.dangling.clear();
      for (const [k, v] of dangling) this.dangling.set(k, v);
      throw e;
    }
  }

  /** Manifest digests that must stay on disk (tagged or dangling). */
  liveDigests(): Set<string> {
    const s = new Set<string>();
    for (const e of this.refs.values()) s.add(e.digest);
    for (const d of this.dangling.keys()) s.add(d);
    return s;
  }

  isTagged(digest: string): boolean {
    for (const e of this.refs.values()) if (e.digest === digest) return true;
    return false;
  }

  /**
   * Finds the stored tags a reference means: `name:tag` looks up the full name, then
   * the name without its registry host; `name@sha256:…` gives every tag of that name
   * (full or short) pointing at that digest.
   */
  find(r: ImageReference): Match[] {
    const names = lookupNames(r);
    if (r.digest) {
      const out: Match[] = [];
      for (const [key, entry] of this.refs) {
        if (entry.digest !== r.digest) continue;
        const name = repositoryName(parseReference(key));
        if (names.includes(name)) out.push({ key, entry });
      }
      // The most specific name wins, so the canonical ref reflects what was asked for.
      out.sort((a, b) => names.indexOf(repositoryName(parseReference(a.key))) - names.indexOf(repositoryName(parseReference(b.key))));
      return out;
    }
    for (const name of names) {
      const key = `${name}:${r.tag ?? DEFAULT_TAG}`;
      const entry = this.refs.get(key);
      if (entry) return [{ key, entry }];
    }
    return [];
  }
}
