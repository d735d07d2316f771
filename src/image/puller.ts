/**
 * ImagePuller: the node's ImageStore as core sees it. `resolve` is a local hit
 * or a pull (from the central registry, or the registry a full reference
 * names) into the LocalRegistry followed by the local resolve, so core never
 * knows registries exist.
 *
 * - Pull policy (UKC ImageSpec): `if_not_present` (default) pulls only what the
 *   node lacks; `always` asks the registry every time (blobs the node holds are
 *   not fetched again); `never` only uses what the node holds.
 * - Credentials: the ImageSpec's, else the central registry's when the
 *   reference is for central (no host, or central's host). What a user pulls
 *   with their own credentials (or registry auth headers) lands in a
 *   repository recorded as theirs and private (access.ts), never in the
 *   shared cache; the node's central credentials fetch shared images.
 * - One pull per reference at a time: concurrent resolves of the same missing
 *   image wait for the same pull.
 * - Where images land: repository = the reference's path (`127.0.0.1:5000/library/hello:v1`
 *   and `library/hello:v1` are the same local image), tag = its tag; a pull by
 *   digest sets no tag.
 * - Which image kinds are runnable is the node's runtime drivers' to say
 *   (`runnable`); the others (unikernels, ROMs, initrds, urunc without a
 *   driver for them) are stored and listed, but resolving one is a clear
 *   invalid_argument naming `image`.
 * - What was found is handed to the local store as is (no second lookup),
 *   under a lease so collection and removal leave it alone meanwhile.
 */
import { HangarError, asHangarError } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { RegistryClient, type Progress } from '../distribution/client.js';
import { registryBaseUrl, type RegistryClientOptions } from '../distribution/transport.js';
import type { LocalRegistry, StoredManifest } from '../registry/ports.js';
import type { ImageRecord, ImageSource, ImageStore, ResolvedImage } from '../core/ports/images.js';
import type { LocalImages } from './store.js';
import type { ImageService } from '../core/images/service.js';
import { INDEX_TYPES } from '../oci/media-types.js';
import { isRepositoryName } from '../oci/names.js';
import { pullImage, type PullResult } from './pull.js';
import { DEFAULT_TAG, formatReference, lookupNames, parseReference, type ImageReference } from '../oci/reference.js';
import { parseIndex } from '../oci/manifest.js';
import { NODE_PLATFORMS, pickManifest } from '../oci/platform.js';
import { classifyImage, inspectContent, type ImageInfo } from './unikraft.js';
import { RegistryEgress } from './egress.js';

export interface CentralRegistryConfig {
  /** `http://127.0.0.1:5000`, `https://registry.example.com`, or `host[:port]`. */
  url: string;
  username?: string | undefined;
  password?: string | undefined;
}

export interface ImagePullerOptions {
  /** The node's local store: resolves what the LocalRegistry holds to a rootfs. */
  store: LocalImages;
  registry: LocalRegistry;
  central?: CentralRegistryConfig | undefined;
  logger?: Logger;
  /** Registry request/stall timeout (ms). */
  timeoutMs?: number;
  /** True for an image kind (`oci`, `unikernel`, `rom`, `initrd`, `urunc`) some runtime driver of the node runs (default: `oci`). */
  runnable?: (kind: string) => boolean;
  /** Named in the refusal of an image no driver runs (default `runc`). */
  driverName?: string;
  /** Keeps digests from collection and removal while an instance is created from them (the image service's lease). */
  lease?: (digests: readonly string[]) => Promise<(lingerMs?: number) => void>;
  /** Which registries and addresses pulls may reach (egress.ts); without it, any. */
  egress?: RegistryEgress;
  /** The image service's access rule; without it a `source.user` may use every image. */
  access?: Pick<ImageService, 'canRead' | 'mayPullInto' | 'claimForPrivatePull'>;
}

export interface PullOutcome extends PullResult {
  /** Where it came from (`http://127.0.0.1:5000/library/hello:v1`). */
  source: string;
  ms: number;
}

/** A local image found for a reference. */
export interface LocalHit {
  repo: string;
  manifest: StoredManifest;
}

/** Container layers up to this size are searched for urunc's /urunc.json when classifying. */
const INSPECT_MAX_BYTES = 16 * 1024 * 1024;


const KIND_WORDS: Record<string, string> = {
  unikernel: 'unikernel',
  rom: 'ROM',
  initrd: 'initrd (a rootfs for a unikernel platform)',
  urunc: 'urunc unikernel',
};

export class ImagePuller implements ImageStore {
  private readonly store: LocalImages;
  private readonly registry: LocalRegistry;
  private readonly central: CentralRegistryConfig | undefined;
  private readonly log: Logger;
  private readonly timeoutMs: number | undefined;
  private readonly runnable: (kind: string) => boolean;
  private readonly driverName: string;
  private readonly lease: (digests: readonly string[]) => Promise<(lingerMs?: number) => void>;
  private readonly access: Pick<ImageService, 'canRead' | 'mayPullInto' | 'claimForPrivatePull'> | undefined;
  private readonly egress: RegistryEgress | undefined;
  private readonly inflight = new Map<string, Promise<PullOutcome>>();
  /** manifest digest → classification (content-addressed, so never stale). */
  private readonly infoCache = new Map<string, ImageInfo>();

  constructor(o: ImagePullerOptions) {
    this.store = o.store;
    this.registry = o.registry;
    this.central = o.central;
    this.log = o.logger ?? silentLogger;
    this.timeoutMs = o.timeoutMs;
    this.runnable = o.runnable ?? ((kind) => kind === 'oci');
    this.driverName = o.driverName ?? 'runc';
    this.lease = o.lease ?? (async () => () => undefined);
    this.access = o.access;
    this.egress = o.egress;
  }

  list(): Promise<ImageRecord[]> {
    return this.store.list();
  }

  async resolve(ref: string, source?: ImageSource): Promise<ResolvedImage> {
    const r = parseReference(ref, 'image');
    const policy = source?.pullPolicy ?? 'if_not_present';
    const user = source?.user;
    let hit = policy === 'always' ? undefined : await this.localHit(r, user);
    let resolveAs = ref;
    if (!hit) {
      if (policy === 'never') throw new HangarError('not_found', `image '${ref}' is not on this node and pull_policy is 'never'`);
      if (this.canPull(r)) {
        const pulled = await this.pull(ref, source);
        if (r.digest && pulled.digest !== r.digest) resolveAs = `${pulled.repo}@${pulled.digest}`;
        hit = { repo: pulled.repo, manifest: (await this.registry.getManifest(pulled.repo, pulled.digest))! };
      } else if (policy === 'always') {
        hit = await this.localHit(r, user);
      }
      if (!hit) throw new HangarError('not_found', `image '${ref}' not found on this node (and no central registry is configured to pull it from)`);
    }
    const digest = hit.manifest.digest;
    const release = await this.lease([digest]);
    try {
      await this.checkRunnable(ref, hit);
      const canonical = r.digest ? `${hit.repo}@${digest}` : `${hit.repo}:${r.tag ?? DEFAULT_TAG}`;
      const resolved = await this.store.resolveStored({ asked: resolveAs, ref: canonical, repo: hit.repo, digest });
      return { ...resolved, settle: () => release(0) };
    } finally {
      release();
    }
  }

  /** True when `ref` names a registry to pull from (its own host, or central). */
  canPull(r: ImageReference): boolean {
    return r.domain !== undefined || this.central !== undefined;
  }

  /**
   * The manifest the LocalRegistry holds for a reference (full name first, then the name without its host);
   * with `user`, only in a repository they may read (another user's private image is not there for them).
   */
  async localHit(r: ImageReference, user?: { uuid: string; admin: boolean }): Promise<LocalHit | undefined> {
    const reference = r.digest ?? r.tag ?? 'latest';
    for (const name of lookupNames(r)) {
      if (!isRepositoryName(name)) continue;
      if (user && this.access && !(await this.access.canRead(user, name))) continue;
      const m = await this.registry.getManifest(name, reference).catch(() => undefined);
      if (m) return { repo: name, manifest: m };
    }
    return undefined;
  }

  /**
   * Pulls `ref` into the LocalRegistry (always asks the registry; blobs held are
   * not fetched again). Concurrent pulls of the same reference share one (a pull with a user's own credentials only
   * with that user's).
   */
  pull(ref: string, source?: ImageSource, onProgress?: Progress): Promise<PullOutcome> {
    const r = parseReference(ref, 'image');
    if (source?.user && this.access) {
      const { user, ...rest } = source;
      const access = this.access;
      const personal = rest.credentials !== undefined || RegistryEgress.authHeaders(rest.headers) !== undefined;
      // What is refused anyway (no registry, one the node may not reach) is refused before anything is claimed.
      const from = this.sourceFor(r, rest);
      if (!from || (this.egress && !this.egress.mayPullFrom(from.registry))) return this.fetch(r, ref, rest, onProgress, undefined);
      return (async () => {
        // A pull may not put an image into another user's repository (their next instance would run it), and what the
        // user's own credentials fetch goes only where nobody else reads it.
        const ok = personal ? await access.claimForPrivatePull(user, r.path) : await access.mayPullInto(user, r.path);
        if (!ok) {
          this.log.warn({ ref, repo: r.path }, personal ? 'pull refused: with credentials it must land in a repository of the user alone, and this one is shared or another user\'s' : 'pull refused: the repository belongs to another user');
          throw pullFailed(ref);
        }
        const out = await this.fetch(r, ref, rest, onProgress, personal ? user.uuid : undefined);
        // Another pull may have made the repository someone else's meanwhile: hand over only what the user may read.
        if (!(await access.canRead(user, out.repo))) throw pullFailed(ref);
        return out;
      })();
    }
    return this.fetch(r, ref, source, onProgress, undefined);
  }

  /** The pull itself; `personal` (the uuid whose credentials it uses) keeps it apart from others' pulls of the same reference. */
  private fetch(r: ImageReference, ref: string, source: ImageSource | undefined, onProgress: Progress | undefined, personal: string | undefined): Promise<PullOutcome> {
    const from = this.sourceFor(r, source);
    if (!from) return Promise.reject(new HangarError('not_found', `image '${ref}' is not on this node and no central registry is configured to pull it from`));
    const reference = r.digest ?? r.tag ?? 'latest';
    const localTag = r.digest ? undefined : (r.tag ?? 'latest');
    const where = `${registryBaseUrl(from.registry)}/${r.path}${r.digest ? `@${r.digest}` : `:${reference}`}`;
    if (this.egress && !this.egress.mayPullFrom(from.registry)) {
      // Refused before any connection: a reference cannot make the node reach a host it was not configured for.
      this.log.warn({ ref, source: where }, 'pull refused: the registry is neither central nor in HANGAR_ALLOWED_REGISTRIES');
      return Promise.reject(pullFailed(ref));
    }
    const key = personal === undefined ? where : `${where} for ${personal}`;
    const running = this.inflight.get(key);
    if (running) return running;
    const client = new RegistryClient(from);
    const t0 = Date.now();
    const p = pullImage(this.registry, client, { remoteRepo: r.path, reference, localRepo: r.path, localTag }, onProgress ? { onProgress } : {})
      .then((res): PullOutcome => {
        const out = { ...res, source: where, ms: Date.now() - t0 };
        this.log.info({ ref: formatReference(r), source: where, digest: res.digest, bytes: res.bytesFetched, blobs: res.blobsFetched, ms: out.ms }, 'pulled image');
        return out;
      })
      .catch((e: unknown) => {
        this.log.warn({ ref, source: where, err: asHangarError(e).message }, 'pull failed');
        throw pullFailed(ref, e);
      })
      .finally(() => {
        this.inflight.delete(key);
        client.close();
      });
    this.inflight.set(key, p);
    return p;
  }

  /** What `digest` (a manifest or index in `repo`) is, from its config; cached. */
  async describe(repo: string, manifest: StoredManifest): Promise<ImageInfo> {
    const cached = this.infoCache.get(manifest.digest);
    if (cached) return cached;
    let m = manifest;
    let descriptor: Parameters<typeof classifyImage>[2];
    if (INDEX_TYPES.has(m.mediaType)) {
      const pick = pickManifest(parseIndex(m.body), NODE_PLATFORMS);
      const child = pick ? await this.registry.getManifest(repo, pick.digest) : undefined;
      if (!pick || !child) throw new HangarError('invalid_argument', `${repo}@${manifest.digest} has no image this node can use`, { field: 'image' });
      m = child;
      descriptor = pick;
    }
    const doc = JSON.parse(m.body.toString('utf8')) as { config?: { digest?: string } };
    const configDigest = doc.config?.digest;
    if (typeof configDigest !== 'string') throw new HangarError('invalid_argument', `${repo}@${m.digest} has no config`, { field: 'image' });
    const configBody = await readAll(this.registry.openBlob(configDigest), 4 * 1024 * 1024);
    const info = classifyImage(m.body, configBody, descriptor);
    // Look inside small images: ROM formats, kernel/initrd tars, urunc's /urunc.json fallback.
    const report = await inspectContent(info, (d) => this.registry.blobPath(d), INSPECT_MAX_BYTES).catch((e: unknown) => ({ problems: [asHangarError(e).message] }));
    if (report.problems.length > 0) this.log.warn({ repo, digest: manifest.digest, problems: report.problems }, 'image does not follow its format');
    this.infoCache.set(manifest.digest, info);
    return info;
  }

  private async checkRunnable(ref: string, hit: LocalHit): Promise<void> {
    const info = await this.describe(hit.repo, hit.manifest);
    if (this.runnable(info.kind)) return;
    const what = KIND_WORDS[info.kind] ?? info.kind;
    throw new HangarError(
      'invalid_argument',
      `'${ref}' is a unikernel/ROM image (${what}${info.platform ? `, ${info.platform}` : ''}); the ${this.driverName} driver cannot run it`,
      { field: 'image' },
    );
  }

  private sourceFor(r: ImageReference, source: ImageSource | undefined): RegistryClientOptions | undefined {
    const central = this.central;
    const centralHost = central ? new URL(registryBaseUrl(central.url)).host : undefined;
    const forCentral = central !== undefined && (r.domain === undefined || centralHost === r.domain);
    if (r.domain === undefined && !central) return undefined;
    const creds = source?.credentials ?? (forCentral && central?.username !== undefined ? { username: central.username, password: central.password ?? '' } : undefined);
    return {
      registry: forCentral ? central!.url : r.domain!,
      credentials: creds,
      headers: RegistryEgress.authHeaders(source?.headers),
      ...(this.egress ? { allowAddress: (host: string, address: string) => this.egress!.addressAllowed(host, address) } : {}),
      ...(this.timeoutMs !== undefined ? { timeoutMs: this.timeoutMs } : {}),
      userAgent: 'hangar-node',
    };
  }
}

/**
 * Every pull failure as the caller sees it: one text, whatever the cause (a
 * missing image, refused credentials, a closed port, a registry the node may
 * not reach), so an answer tells nothing about hosts and ports; the node's
 * log has the reason.
 */
function pullFailed(ref: string, cause?: unknown): HangarError {
  return new HangarError('not_found', `image '${ref}' could not be pulled (the node's log says why)`, { field: 'image', ...(cause !== undefined ? { cause } : {}) });
}

async function readAll(stream: AsyncIterable<Buffer>, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += c.length;
    if (n > max) throw new HangarError('invalid_argument', `image config is larger than ${max} bytes`, { field: 'image' });
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
