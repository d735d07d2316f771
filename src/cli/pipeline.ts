import { buildProject, defaultCacheDir, type BuildEvent } from '../builder/index.js';
import { pushImage } from '../image/push.js';
import { RegistryClient } from '../distribution/client.js';
import type { Step } from './progress.js';

/**
 * The pieces `deploy` and `build` drive. The CLI only orchestrates: building
 * is src/build's, pushing src/image/push.ts's over the registry client; both
 * come in through these types so deploy can be tested with stand-ins.
 */

/** An image on local disk, ready to push. */
export interface BuiltImage {
  /** An OCI layout directory or an oci-archive file. */
  path: string;
  /** Ports the image says it listens on (its config's ExposedPorts). */
  exposedPorts: number[];
  /** Things the user may want to know (e.g. a runtime tag that was mapped). */
  notes: string[];
}

export interface BuildRequest {
  dir: string;
  /** Repository and tag the image is built as and pushed to. */
  repo: string;
  tag: string;
  /** The node, whose registry serves `FROM runtimes/<name>` (used when it is on loopback). */
  metro: string;
  token: string | undefined;
  env: NodeJS.ProcessEnv;
  step: Step;
}
export type BuildFn = (r: BuildRequest) => Promise<BuiltImage>;

export interface PushRequest {
  image: BuiltImage;
  /** The node's base URL; its registry is `/v2/` on the same address. */
  metro: string;
  token: string;
  repo: string;
  tag: string;
  step: Step;
  signal: AbortSignal;
}
/** Returns the image reference the node resolves for `create`. */
export type PushFn = (r: PushRequest) => Promise<{ ref: string; digest: string }>;

export interface Pieces {
  build: BuildFn;
  push: PushFn;
}

/** The ports an image listens on: its `ExposedPorts` (`{"8080/tcp": {}}`), else a `PORT=` in its Env. */
export function exposedPorts(config: Record<string, unknown>): number[] {
  const valid = (p: number): boolean => Number.isInteger(p) && p > 0 && p < 65536;
  const exposed = config['ExposedPorts'];
  const ports = exposed && typeof exposed === 'object' ? Object.keys(exposed).map((k) => Number.parseInt(k, 10)).filter(valid) : [];
  if (ports.length > 0) return ports;
  const env = Array.isArray(config['Env']) ? (config['Env'] as unknown[]) : [];
  const port = env.map((e) => /^PORT=(\d+)$/.exec(String(e))?.[1]).find((p) => p !== undefined);
  return port !== undefined && valid(Number(port)) ? [Number(port)] : [];
}

/** Build events → the step: Dockerfile steps move the bar, phase changes and steps are shown, all is kept for errors. */
export function buildEvents(step: Step): (e: BuildEvent) => void {
  let phase: string | undefined;
  return (e) => {
    const shown = e.current !== undefined || (e.phase !== phase && e.phase !== 'done');
    phase = e.phase;
    if (e.current !== undefined && e.total !== undefined) step.update(e.current, e.total);
    step.log(e.message, shown);
  };
}

const isLoopback = (url: URL): boolean => /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname);

export const realBuild: BuildFn = async (r) => {
  const metro = new URL(r.metro);
  const result = await buildProject(r.dir, {
    name: `${r.repo}:${r.tag}`,
    cacheDir: defaultCacheDir(r.env),
    ...(isLoopback(metro) ? { registry: { address: metro.host, username: 'hangar', ...(r.token ? { password: r.token } : {}) } } : {}),
    onProgress: buildEvents(r.step),
  });
  return { path: result.layoutDir, exposedPorts: exposedPorts(result.config), notes: result.notes };
};

/** Pushes to the node's own `/v2/`, the API token as the password. */
export const realPush: PushFn = async (r) => {
  const client = new RegistryClient({ registry: r.metro, credentials: { username: 'hangar', password: r.token }, signal: r.signal, timeoutMs: 60_000 });
  try {
    const res = await pushImage(client, r.image.path, r.repo, r.tag, { onProgress: (done, total) => r.step.update(done, total) });
    return { ref: `${r.repo}:${r.tag}`, digest: res.digest };
  } finally {
    client.close();
  }
};

export const defaultPieces = (): Pieces => ({ build: realBuild, push: realPush });
