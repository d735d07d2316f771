/**
 * Image manifests and indexes (OCI and their Docker v2 equivalents):
 * structure only; whether what they reference is present is the caller's
 * question. Any config, layer or artifact media type is fine inside them
 * (Unikraft ROM layers are raw blobs of type `application/vnd.unikraft.rom.v1`).
 */
import { isObject, isMediaType, parseAnnotations, parseDescriptor, parseJsonObject, type Descriptor } from './descriptor.js';
import { ociInvalid, ociUnsupported } from './errors.js';
import { INDEX_TYPES, MANIFEST_TYPES, MT, STORABLE_MANIFEST_TYPES, bareMediaType } from './media-types.js';

export interface ParsedManifest {
  mediaType: string;
  isIndex: boolean;
  /** Config and layers: blobs a store must hold (except foreign layers that carry `urls`). */
  blobs: Descriptor[];
  /** Children of an index: manifests that must be stored in the same repository. */
  manifests: Descriptor[];
  subject: Descriptor | undefined;
  /** `artifactType`, or for an image manifest without one, its config's media type (what the referrers API reports). */
  artifactType: string | undefined;
  annotations: Record<string, string> | undefined;
}

/** Content types that say "JSON" without naming a manifest type: the body's mediaType decides. */
const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

/**
 * Parses a manifest or index body. `contentType` is the type it came with
 * (may be generic or absent: then the body's `mediaType`, or its shape, decides).
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  const ct = bareMediaType(contentType);
  if (!GENERIC_TYPES.has(ct) && !STORABLE_MANIFEST_TYPES.has(ct)) {
    throw ociUnsupported(`manifest media type '${ct.slice(0, 100)}' is not supported (OCI image manifest/index, Docker v2 manifest/list)`, { mediaType: ct.slice(0, 200) });
  }
  const doc = parseJsonObject(body, 'manifest');
  if (doc['schemaVersion'] === 1) throw ociUnsupported('Docker schema 1 manifests are not supported', { schemaVersion: 1 });
  if (doc['schemaVersion'] !== 2) throw ociInvalid('schemaVersion must be 2');
  const bodyType = doc['mediaType'];
  if (bodyType !== undefined && typeof bodyType !== 'string') throw ociInvalid('mediaType must be a string');
  if (typeof bodyType === 'string' && !STORABLE_MANIFEST_TYPES.has(bodyType)) {
    throw ociUnsupported(`manifest media type '${bodyType.slice(0, 100)}' is not supported`, { mediaType: bodyType.slice(0, 200) });
  }
  if (typeof bodyType === 'string' && STORABLE_MANIFEST_TYPES.has(ct) && bodyType !== ct) {
    throw ociInvalid(`Content-Type '${ct}' differs from the manifest's mediaType '${bodyType}'`);
  }
  let mediaType = typeof bodyType === 'string' ? bodyType : STORABLE_MANIFEST_TYPES.has(ct) ? ct : undefined;
  if (mediaType === undefined) {
    if (Array.isArray(doc['manifests'])) mediaType = MT.ociIndex;
    else if (isObject(doc['config'])) mediaType = MT.ociManifest;
    else throw ociInvalid('cannot tell whether it is a manifest or an index (no mediaType)');
  }
  const isIndex = INDEX_TYPES.has(mediaType);
  const subject = doc['subject'] === undefined ? undefined : parseDescriptor(doc['subject'], 'subject');
  const annotations = parseAnnotations(doc['annotations'], 'manifest');
  let artifactType: string | undefined;
  if (doc['artifactType'] !== undefined) {
    if (!isMediaType(doc['artifactType'])) throw ociInvalid('malformed artifactType');
    artifactType = doc['artifactType'];
  }
  if (isIndex) {
    if ('layers' in doc || 'config' in doc) throw ociInvalid('an index has no config or layers');
    return { mediaType, isIndex, blobs: [], manifests: indexEntries(doc, 'index'), subject, artifactType, annotations };
  }
  if (!MANIFEST_TYPES.has(mediaType)) throw ociInvalid(`unexpected mediaType '${mediaType}'`);
  if ('manifests' in doc) throw ociInvalid('an image manifest has no manifests list');
  const config = parseDescriptor(doc['config'], 'config');
  if (!Array.isArray(doc['layers'])) throw ociInvalid("an image manifest needs a 'layers' array");
  const layers = (doc['layers'] as unknown[]).map((d, i) => parseDescriptor(d, `layers[${i}]`));
  return { mediaType, isIndex, blobs: [config, ...layers], manifests: [], subject, artifactType: artifactType ?? config.mediaType, annotations };
}

function indexEntries(doc: Record<string, unknown>, what: string): Descriptor[] {
  if (!Array.isArray(doc['manifests'])) throw ociInvalid(`${what}: 'manifests' must be an array`);
  return (doc['manifests'] as unknown[]).map((d, i) => parseDescriptor(d, `${what} manifests[${i}]`));
}

/** The entries of an image index (OCI or Docker manifest list), from its body or its parsed document. */
export function parseIndex(body: Buffer | Record<string, unknown>, what = 'index'): Descriptor[] {
  const doc = Buffer.isBuffer(body) ? parseJsonObject(body, what) : body;
  if (doc['schemaVersion'] !== 2) throw ociInvalid(`${what}: schemaVersion must be 2`);
  if (doc['mediaType'] !== undefined && !INDEX_TYPES.has(String(doc['mediaType']))) throw ociInvalid(`${what}: unexpected mediaType '${String(doc['mediaType']).slice(0, 100)}'`);
  return indexEntries(doc, what);
}

/** The entries of an image manifest: its config, then its layers. */
export function parseImageManifest(body: Buffer | Record<string, unknown>, what = 'manifest'): { config: Descriptor; layers: Descriptor[]; annotations: Record<string, string> | undefined } {
  const m = Buffer.isBuffer(body) ? parseJsonObject(body, what) : body;
  if (m['schemaVersion'] !== 2) throw ociInvalid(`${what}: schemaVersion must be 2`);
  if (m['mediaType'] !== undefined && !MANIFEST_TYPES.has(String(m['mediaType']))) throw ociInvalid(`${what}: unexpected mediaType '${String(m['mediaType']).slice(0, 100)}'`);
  const config = parseDescriptor(m['config'], `${what} config`);
  if (!Array.isArray(m['layers'])) throw ociInvalid(`${what}: 'layers' must be an array`);
  const layers = (m['layers'] as unknown[]).map((l, i) => parseDescriptor(l, `${what} layers[${i}]`));
  return { config, layers, annotations: parseAnnotations(m['annotations'], what) };
}

/** The digests an index lists (an instance may run any of them); none for a manifest. */
export const indexChildren = (m: { mediaType: string; body: Buffer }): string[] => (INDEX_TYPES.has(m.mediaType) ? parseIndex(m.body).map((e) => e.digest) : []);
