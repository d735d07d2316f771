/**
 * buildah (and skopeo, for uncompressed export) on a private, daemonless
 * storage: vfs driver, `--root`/`--runroot` under the build cache, our own
 * registries.conf (no search registries, so a short name never reaches the
 * network) and signature policy. Nothing goes to the host's containers storage.
 *
 * `bud` runs in a fresh network namespace (`unshare --net`): with chroot
 * isolation buildah cannot give RUN steps `--network none` itself, and a build
 * must not reach the network anyway. Base images are loaded beforehand from
 * OCI layouts or pulled from the node's (loopback) registry.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HangarError } from '../lib/errors.js';
import { exec } from '../lib/exec.js';
import { tempDir } from './tmp.js';

export interface RegistryAuth {
  /** `127.0.0.1:5000`: a loopback registry is used over plain HTTP, any other over TLS. */
  address: string;
  username?: string;
  password?: string;
}

export interface BudOptions {
  dockerfile: string;
  context: string;
  buildArgs?: Record<string, string>;
  /** Seconds since the epoch for the image's created time and the layers' file times. */
  timestamp: number;
  onLine?: (line: string) => void;
}

/** The last error line buildah printed, without its `Error: ` prefix and buildah's wrapping. */
export function buildahError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const err = [...lines].reverse().find((l) => /^(Error|error)[: ]/.test(l) || /level=(error|fatal)/.test(l)) ?? lines[lines.length - 1] ?? 'failed';
  const logfmt = /level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/.exec(err);
  const msg = logfmt ? logfmt[1]!.replace(/\\"/g, '"') : err;
  return msg
    .replace(/^Error:\s*/i, '')
    .replace(/\s*&imagebuilder\.Step\{.*\}$/, '')
    .trim();
}

export class Buildah {
  readonly root: string;
  readonly runroot: string;
  private readonly registriesConf: string;
  private readonly policy: string;
  private readonly storageConf: string;

  /** `dir` holds the private storage and configuration (e.g. `<cacheDir>/buildah`). */
  constructor(readonly dir: string) {
    this.root = join(dir, 'root');
    this.runroot = join(dir, 'runroot');
    this.registriesConf = join(dir, 'registries.conf');
    this.policy = join(dir, 'policy.json');
    this.storageConf = join(dir, 'storage.conf');
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await mkdir(this.runroot, { recursive: true, mode: 0o700 });
    await writeFile(this.registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
    await writeFile(this.policy, `${JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] })}\n`);
    await writeFile(this.storageConf, `[storage]\ndriver = "vfs"\nrunroot = "${this.runroot}"\ngraphroot = "${this.root}"\n`);
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      CONTAINERS_REGISTRIES_CONF: this.registriesConf,
      CONTAINERS_STORAGE_CONF: this.storageConf,
      BUILDAH_ISOLATION: 'chroot',
      BUILDAH_LAYERS: 'false',
      BUILDAH_FORMAT: 'oci',
    };
  }

  private globals(): string[] {
    return ['--root', this.root, '--runroot', this.runroot, '--storage-driver', 'vfs', '--registries-conf', this.registriesConf];
  }

  /** `containers-storage:` reference of an image (id or name) in this storage, for skopeo. */
  storageRef(image: string): string {
    return `containers-storage:[vfs@${this.root}+${this.runroot}]${image}`;
  }

  private async run(args: string[], what: string): Promise<string> {
    const r = await exec('buildah', [...this.globals(), ...args], { env: this.env(), allowFailure: true });
    if (r.code !== 0) throw new HangarError('unavailable', `${what}: ${buildahError(r.stderr || r.stdout)}`);
    return r.stdout;
  }

  /** Runs `buildah bud`; resolves with the image id. Intermediate containers are removed even on failure. */
  async bud(o: BudOptions): Promise<string> {
    const work = await tempDir(this.dir, 'bud');
    const iidfile = join(work, 'iid');
    const args = [
      '--net',
      '--',
      'buildah',
      ...this.globals(),
      'bud',
      '--isolation',
      'chroot',
      '--pull=never',
      '--signature-policy',
      this.policy,
      '--layers=false',
      '--rm',
      '--force-rm',
      '--identity-label=false',
      '--format',
      'oci',
      '--timestamp',
      String(o.timestamp),
      '--iidfile',
      iidfile,
      '-f',
      o.dockerfile,
    ];
    for (const [k, v] of Object.entries(o.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
    args.push(o.context);
    try {
      const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
        const child = spawn('unshare', args, { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        let pending = '';
        const onData = (d: Buffer): void => {
          pending += d.toString();
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          for (const l of lines) if (l.trim()) o.onLine?.(l);
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.length > 1 << 20) err = err.slice(-(1 << 19));
        });
        child.on('error', (e) => reject(new HangarError('unavailable', `buildah: ${e.message}`, { cause: e })));
        child.on('close', (c) => {
          if (pending.trim()) o.onLine?.(pending);
          resolve({ code: c ?? 1, stderr: err });
        });
      });
      if (code !== 0) throw new HangarError('invalid_argument', buildahError(stderr), { field: 'Dockerfile' });
      return (await readFile(iidfile, 'utf8')).trim().replace(/^sha256:/, '');
    } finally {
      await rm(work, { recursive: true, force: true });
      // A failed step can leave its working container behind despite --force-rm (e.g. on a signal).
      await this.removeContainers();
    }
  }

  /** Copies an image into an OCI layout directory with uncompressed layers (buildah push would gzip them). */
  async exportOci(image: string, layoutDir: string, tag = 'latest'): Promise<void> {
    const r = await exec(
      'skopeo',
      ['--registries-conf', this.registriesConf, 'copy', '--quiet', '--policy', this.policy, '--dest-oci-accept-uncompressed-layers', this.storageRef(image), `oci:${layoutDir}:${tag}`],
      { env: this.env(), allowFailure: true },
    );
    if (r.code !== 0) throw new HangarError('unavailable', `exporting the built image: ${buildahError(r.stderr)}`);
  }

  /** Loads an OCI layout's image into the storage under `name` (e.g. localhost/runtimes/go:latest). */
  async importOci(layoutDir: string, tag: string, name: string): Promise<void> {
    const r = await exec('skopeo', ['--registries-conf', this.registriesConf, 'copy', '--quiet', '--policy', this.policy, `oci:${layoutDir}:${tag}`, this.storageRef(name)], {
      env: this.env(),
      allowFailure: true,
    });
    if (r.code !== 0) throw new HangarError('unavailable', `loading ${name} into the build storage: ${buildahError(r.stderr)}`);
  }

  /** Pulls into the storage (plain HTTP for a loopback registry, TLS otherwise); optionally tags it as `alias`. */
  async pull(ref: string, auth: RegistryAuth | undefined, alias?: string): Promise<void> {
    const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//.test(ref);
    const args = ['pull', '--quiet', `--tls-verify=${!loopback}`, '--signature-policy', this.policy];
    if (auth?.username !== undefined) args.push('--creds', `${auth.username}:${auth.password ?? ''}`);
    args.push(`docker://${ref}`);
    await this.run(args, `pulling ${ref}`);
    if (alias && alias !== ref) {
      await this.tag(ref, alias);
      await this.untag(ref);
    }
  }

  /** Removes one name of an image; the image goes with its last name. */
  async untag(name: string): Promise<void> {
    await exec('buildah', [...this.globals(), 'rmi', name], { env: this.env(), allowFailure: true });
  }

  async tag(image: string, name: string): Promise<void> {
    await this.run(['tag', image, name], `tagging ${name}`);
  }

  /** Image id of `name`, or undefined when the storage does not have it. */
  async imageId(name: string): Promise<string | undefined> {
    const r = await exec('buildah', [...this.globals(), 'inspect', '--type', 'image', '--format', '{{.FromImageID}}', name], { env: this.env(), allowFailure: true });
    return r.code === 0 ? r.stdout.trim() || undefined : undefined;
  }

  async removeImage(image: string): Promise<void> {
    await exec('buildah', [...this.globals(), 'rmi', '--force', image], { env: this.env(), allowFailure: true });
  }

  /** Working containers in the storage (a finished build leaves none). */
  async containers(): Promise<string[]> {
    const out = await this.run(['containers', '--quiet', '--all'], 'listing build containers');
    return out.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  /** `name:tag` (or `<none>`) of every image in the storage. */
  async images(): Promise<string[]> {
    const out = await this.run(['images', '--all', '--format', '{{.Name}}:{{.Tag}}'], 'listing build images');
    return out.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  async removeContainers(): Promise<void> {
    const ids = await this.containers().catch(() => []);
    if (ids.length > 0) await exec('buildah', [...this.globals(), 'rm', ...ids], { env: this.env(), allowFailure: true });
  }

  /** Removes the whole storage (buildah's files are immutable-flagged at times: `buildah rm` first). */
  async destroy(): Promise<void> {
    await this.removeContainers();
    await exec('buildah', [...this.globals(), 'rmi', '--all', '--force'], { env: this.env(), allowFailure: true });
    await rm(this.dir, { recursive: true, force: true });
  }
}
