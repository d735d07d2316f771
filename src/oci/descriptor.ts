/**
 * Descriptors: the typed pointers (media type, digest, size) every OCI
 * document is made of. One parser for all of them, strict in the same way
 * wherever a document comes from (a push, a layout, a remote registry).
 */
import { ociInvalid } from './errors.js';
import { isDigest } from './names.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: Platform;
  urls?: string[];
}

const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isMediaType = (s: unknown): s is string => typeof s === 'string' && MEDIA_TYPE_RE.test(s);

/** A JSON document that must be an object; `what` names it in the error. */
export function parseJsonObject(body: Buffer | string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (e) {
    throw ociInvalid(`${what} is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) throw ociInvalid(`${what} is not a JSON object`);
  return doc;
}

export function parseAnnotations(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) throw ociInvalid(`${what}: annotations must map strings to strings`);
  return v as Record<string, string>;
}

function parsePlatform(p: unknown, what: string): Platform {
  if (!isObject(p) || typeof p['architecture'] !== 'string' || typeof p['os'] !== 'string') throw ociInvalid(`${what}: platform needs os and architecture strings`);
  const out: Platform = { architecture: p['architecture'], os: p['os'] };
  if (typeof p['variant'] === 'string') out.variant = p['variant'];
  if (typeof p['os.version'] === 'string') out['os.version'] = p['os.version'];
  if (Array.isArray(p['os.features'])) out['os.features'] = (p['os.features'] as unknown[]).filter((x): x is string => typeof x === 'string');
  return out;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw ociInvalid(`${what} is not a descriptor object`);
  const { mediaType, digest, size } = v;
  if (!isMediaType(mediaType)) throw ociInvalid(`${what}: missing or malformed mediaType`);
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw ociInvalid(`${what}: digest must be sha256:<64 hex> (the only algorithm supported)`, { digest: typeof digest === 'string' ? digest.slice(0, 100) : digest });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw ociInvalid(`${what}: size must be a non-negative integer`);
  const d: Descriptor = { mediaType, digest, size };
  const annotations = parseAnnotations(v['annotations'], what);
  if (annotations) d.annotations = annotations;
  if (v['artifactType'] !== undefined) {
    if (!isMediaType(v['artifactType'])) throw ociInvalid(`${what}: malformed artifactType`);
    d.artifactType = v['artifactType'];
  }
  if (v['urls'] !== undefined) {
    if (!Array.isArray(v['urls']) || !v['urls'].every((u) => typeof u === 'string')) throw ociInvalid(`${what}: urls must be an array of strings`);
    d.urls = v['urls'] as string[];
  }
  if (v['platform'] !== undefined) d.platform = parsePlatform(v['platform'], what);
  return d;
}

/** A layer a registry need not hold: a foreign/non-distributable layer fetched from its `urls`. */
export const isForeign = (d: Descriptor): boolean => (d.urls?.length ?? 0) > 0 && /nondistributable|foreign/.test(d.mediaType);
