/**
 * Debian's `docker-registry` (CNCF Distribution 2.8) as a test's central
 * registry: its own root dir and loopback port, optional htpasswd auth, the
 * access log kept in memory so a test can count requests.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../../../src/lib/exec.js';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

export interface DockerRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  url: string;
  root: string;
  child: ChildProcess;
  /** Access-log lines: `METHOD /path STATUS`. */
  requests(): string[];
  /** Requests matching `METHOD /path` that were answered with `status`. */
  count(method: string, path: string, status?: number): number;
  stop(): Promise<void>;
  /** Stops and removes its storage. */
  destroy(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A bcrypt htpasswd line (`user:$2…`, cost 4: the registry checks it on every request): `htpasswd` if installed, else Python's crypt; undefined when neither works. */
export function htpasswdLine(user: string, password: string): string | undefined {
  try {
    return execFileSync('htpasswd', ['-nbBC', '4', user, password], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not installed (apache2-utils)
  }
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      const hash = execFileSync(py, ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))', password], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (hash.startsWith('$2')) return `${user}:${hash}`;
    } catch {
      // no such python or no crypt module
    }
  }
  return undefined;
}

export async function startDockerRegistry(o: { htpasswd?: string; root?: string; port?: number } = {}): Promise<DockerRegistry> {
  if (!existsSync(DOCKER_REGISTRY)) throw new Error(`${DOCKER_REGISTRY} is missing (apt-get install docker-registry)`);
  const dir = o.root ?? mkdtempSync(join(tmpdir(), 'hangar-central-'));
  const port = o.port ?? (await freePort());
  const auth = o.htpasswd ? `auth:\n  htpasswd:\n    realm: hangar-test\n    path: ${join(dir, 'htpasswd')}\n` : '';
  if (o.htpasswd) writeFileSync(join(dir, 'htpasswd'), `${o.htpasswd}\n`);
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n${auth}http:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn(DOCKER_REGISTRY, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  const onData = (d: Buffer): void => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const m = /"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})/.exec(line);
      if (m) lines.push(`${m[1]} ${m[2]!.replace(/\?.*$/, '')} ${m[3]}`);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200 || r.status === 401, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('docker-registry did not come up in 10 s');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  return {
    host,
    url,
    root: dir,
    child,
    requests: () => [...lines],
    count: (method, path, status = 200) => lines.filter((l) => l === `${method} ${path} ${status}`).length,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `skopeo copy` over plain HTTP; rejects with skopeo's stderr on failure. Async:
 * the registry may be a node in this very process.
 */
export async function skopeoCopy(src: string, dest: string, opts: { destCreds?: string; srcCreds?: string; extra?: string[] } = {}): Promise<void> {
  const args = ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false'];
  if (opts.destCreds) args.push('--dest-creds', opts.destCreds);
  if (opts.srcCreds) args.push('--src-creds', opts.srcCreds);
  args.push(...(opts.extra ?? []));
  // skopeo needs a policy; Debian ships /etc/containers/policy.json, a bare machine may not.
  if (!existsSync('/etc/containers/policy.json')) args.unshift('--insecure-policy');
  args.push(src, dest);
  const r = await exec('skopeo', args, { timeoutMs: 120_000, allowFailure: true });
  if (r.code !== 0) throw new Error(`skopeo copy ${src} ${dest} failed: ${r.stderr.trim().slice(0, 500)}`);
}
