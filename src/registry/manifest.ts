/**
 * Parsing of manifests and indexes pushed to the registry: structure only
 * (what a manifest references is checked against the store by the caller).
 * Accepts OCI image manifests and indexes and their Docker v2 equivalents;
 * any config, layer or artifact media type is fine inside them (Unikraft
 * ROM layers are raw blobs of type `application/vnd.unikraft.rom.v1`).
 */
import type { Descriptor } from './ports.js';
import { regError } from './errors.js';
import { INDEX_TYPES, MANIFEST_TYPES, MT, STORABLE_MANIFEST_TYPES } from './media-types.js';
import { isDigest } from './names.js';

export interface ParsedManifest {
  mediaType: string;
  isIndex: boolean;
  /** Config and layers: blobs that must be stored (except foreign layers that carry `urls`). */
  blobs: Descriptor[];
  /** Children of an index: manifests that must be stored in the same repository. */
  manifests: Descriptor[];
  subject: Descriptor | undefined;
  /** `artifactType`, or for an image manifest without one, its config's media type (what the referrers API reports). */
  artifactType: string | undefined;
  annotations: Record<string, string> | undefined;
}

const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
/** Content types that say "JSON" without naming a manifest type: the body's mediaType decides. */
const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

const invalidManifest = (message: string, detail?: unknown): Error => regError('MANIFEST_INVALID', `manifest invalid: ${message}`, detail === undefined ? {} : { detail });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `application/vnd.oci.image.manifest.v1+json; charset=utf-8` → the bare media type. */
export const bareMediaType = (contentType: string | undefined): string => (contentType ?? '').split(';')[0]!.trim().toLowerCase();

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) throw invalidManifest(`${what}: annotations must map strings to strings`);
  return v as Record<string, string>;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw invalidManifest(`${what} is not a descriptor object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE_RE.test(mediaType)) throw invalidManifest(`${what}: missing or malformed mediaType`);
  if (typeof digest !== 'string' || !isDigest(digest)) throw invalidManifest(`${what}: digest must be sha256:<64 hex>`, { digest: typeof digest === 'string' ? digest.slice(0, 100) : digest });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalidManifest(`${what}: size must be a non-negative integer`);
  const d: Descriptor = { mediaType, digest, size };
  const annotations = stringMap(v['annotations'], what);
  if (annotations) d.annotations = annotations;
  if (v['artifactType'] !== undefined) {
    if (typeof v['artifactType'] !== 'string' || !MEDIA_TYPE_RE.test(v['artifactType'])) throw invalidManifest(`${what}: malformed artifactType`);
    d.artifactType = v['artifactType'];
  }
  if (v['urls'] !== undefined) {
    if (!Array.isArray(v['urls']) || !v['urls'].every((u) => typeof u === 'string')) throw invalidManifest(`${what}: urls must be an array of strings`);
    d.urls = v['urls'] as string[];
  }
  if (v['platform'] !== undefined) {
    const p = v['platform'];
    if (!isObject(p) || typeof p['architecture'] !== 'string' || typeof p['os'] !== 'string') throw invalidManifest(`${what}: platform needs os and architecture strings`);
    d.platform = { architecture: p['architecture'], os: p['os'] };
    if (typeof p['variant'] === 'string') d.platform.variant = p['variant'];
    if (typeof p['os.version'] === 'string') d.platform['os.version'] = p['os.version'];
    if (Array.isArray(p['os.features'])) d.platform['os.features'] = (p['os.features'] as unknown[]).filter((x): x is string => typeof x === 'string');
  }
  return d;
}

/**
 * Parses a manifest body. `contentType` is the Content-Type it was pushed with
 * (may be generic or absent: then the body's `mediaType`, or its shape, decides).
 * Throws RegistryError MANIFEST_INVALID (malformed) or UNSUPPORTED (a media type the store does not hold).
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  const ct = bareMediaType(contentType);
  if (!GENERIC_TYPES.has(ct) && !STORABLE_MANIFEST_TYPES.has(ct)) {
    throw regError('UNSUPPORTED', `manifest media type '${ct.slice(0, 100)}' is not supported (OCI image manifest/index, Docker v2 manifest/list)`, { detail: { mediaType: ct.slice(0, 200) } });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw invalidManifest(`not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) throw invalidManifest('not a JSON object');
  if (doc['schemaVersion'] === 1) throw regError('UNSUPPORTED', 'Docker schema 1 manifests are not supported', { detail: { schemaVersion: 1 } });
  if (doc['schemaVersion'] !== 2) throw invalidManifest('schemaVersion must be 2');
  const bodyType = doc['mediaType'];
  if (bodyType !== undefined && typeof bodyType !== 'string') throw invalidManifest('mediaType must be a string');
  if (typeof bodyType === 'string' && !STORABLE_MANIFEST_TYPES.has(bodyType)) {
    throw regError('UNSUPPORTED', `manifest media type '${bodyType.slice(0, 100)}' is not supported`, { detail: { mediaType: bodyType.slice(0, 200) } });
  }
  if (typeof bodyType === 'string' && STORABLE_MANIFEST_TYPES.has(ct) && bodyType !== ct) {
    throw invalidManifest(`Content-Type '${ct}' differs from the manifest's mediaType '${bodyType}'`);
  }
  let mediaType = typeof bodyType === 'string' ? bodyType : STORABLE_MANIFEST_TYPES.has(ct) ? ct : undefined;
  if (mediaType === undefined) {
    if (Array.isArray(doc['manifests'])) mediaType = MT.ociIndex;
    else if (isObject(doc['config'])) mediaType = MT.ociManifest;
    else throw invalidManifest('cannot tell whether it is a manifest or an index (no mediaType)');
  }
  const isIndex = INDEX_TYPES.has(mediaType);
  const subject = doc['subject'] === undefined ? undefined : parseDescriptor(doc['subject'], 'subject');
  const annotations = stringMap(doc['annotations'], 'manifest');
  let artifactType: string | undefined;
  if (doc['artifactType'] !== undefined) {
    if (typeof doc['artifactType'] !== 'string' || !MEDIA_TYPE_RE.test(doc['artifactType'])) throw invalidManifest('malformed artifactType');
    artifactType = doc['artifactType'];
  }
  if (isIndex) {
    if (!Array.isArray(doc['manifests'])) throw invalidManifest("an index needs a 'manifests' array");
    if ('layers' in doc || 'config' in doc) throw invalidManifest('an index has no config or layers');
    const manifests = (doc['manifests'] as unknown[]).map((d, i) => parseDescriptor(d, `manifests[${i}]`));
    return { mediaType, isIndex, blobs: [], manifests, subject, artifactType, annotations };
  }
  if (!MANIFEST_TYPES.has(mediaType)) throw invalidManifest(`unexpected mediaType '${mediaType}'`);
  if ('manifests' in doc) throw invalidManifest('an image manifest has no manifests list');
  const config = parseDescriptor(doc['config'], 'config');
  if (!Array.isArray(doc['layers'])) throw invalidManifest("an image manifest needs a 'layers' array");
  const layers = (doc['layers'] as unknown[]).map((d, i) => parseDescriptor(d, `layers[${i}]`));
  return { mediaType, isIndex, blobs: [config, ...layers], manifests: [], subject, artifactType: artifactType ?? config.mediaType, annotations };
}

/** A layer the registry need not hold: a foreign/non-distributable layer fetched from its `urls`. */
export const isForeign = (d: Descriptor): boolean => (d.urls?.length ?? 0) > 0 && /nondistributable|foreign/.test(d.mediaType);
