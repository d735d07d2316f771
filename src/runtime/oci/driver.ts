/**
 * What every OCI runtime driver built on hangar-shim shares: each sandbox is a
 * container of a runc-compatible CLI run by its own hangar-shim (native/hangar-shim.c),
 * so it outlives the node process. runc/ (later runsc/) add name, support and capabilities.
 *
 * On-disk layout (all state is on disk, so a restarted node adopts what runs):
 *   <stateDir>/<cli dir>/              --root of the CLI (e.g. runc/; this driver's containers only)
 *   <stateDir>/sandboxes/<id>/config.json   OCI bundle (the rootfs is elsewhere, shared)
 *                             pid       app pid (--pid-file)
 *                             shim.pid  pid of the shim
 *                             runc.log  the CLI's JSON log of `run`
 *                             exit      {"exitCode","signal","oomKilled","at"} written by the shim
 *   <stateDir>/roots/, images/         host mounts: writable roots, sysfs, shared images (hostmounts.ts)
 * The sandbox cgroup is <cgroupParent>/<id> (default /hangar/<id>).
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ReadinessProbe, RuntimeDriver, SandboxExit, SandboxInfo, SandboxMountType, SandboxRoot, SandboxSpec, SandboxStats } from '../../core/ports/runtime.js';
import { HangarError, notFound } from '../../lib/errors.js';
import { checkId, checkSpec, SANDBOX_ID_RE as ID_RE } from '../support.js';
import { silentLogger, type Logger } from '../../lib/log.js';
import { Cgroups } from './cgroup.js';
import { OciCli, type OciState } from './cli.js';
import { hasCgroupNamespace, sandboxNofile } from './host.js';
import { HostMounts } from './hostmounts.js';
import { checkRootfs } from './rootfs.js';
import { startShim, ShimError, type ShimHandle } from './shim.js';
import { buildOciConfig } from './spec.js';
import { exists, idle, orTimeout, parseExit, readPid, sleep } from './state.js';

export interface OciDriverOptions {
  /** Private to one node, e.g. $HANGAR_HOME/run. */
  stateDir: string;
  /** Path of the built hangar-shim binary. */
  shimPath: string;
  /** Path of the built hangar-idmount binary; default: beside the shim. */
  idmountPath?: string;
  logger?: Logger;
  /** Parent of every sandbox cgroup; default /hangar. */
  cgroupParent?: string;
  /** How long `<cli> run` may take before start() gives up; default 60 s. */
  startTimeoutMs?: number;
  /**
   * Run the app under hangar-shim's minimal init (default true): signals are
   * forwarded (an app that is pid 1 would ignore SIGTERM), orphans reaped, and
   * start() only resolves once the app was exec'd. With false the app is pid 1.
   */
  init?: boolean;
}

const ADOPTED_POLL_MS = 200;
const REMOVE_POLL_MS = 20;
const REMOVE_WAIT_MS = 10_000;

export abstract class OciDriver implements RuntimeDriver {
  abstract readonly name: string;
  abstract readonly imageKinds: readonly string[];
  abstract readonly mountTypes: readonly SandboxMountType[];
  abstract readonly rootKinds: readonly SandboxRoot['kind'][];
  abstract readonly readiness: ReadinessProbe;

  private readonly stateDir: string;
  private readonly sandboxesDir: string;
  private readonly shimPath: string;
  protected readonly cli: OciCli;
  private readonly log: Logger;
  private readonly cgroupParent: string;
  private readonly startTimeoutMs: number;
  private readonly useInit: boolean;
  private readonly cgroups = new Cgroups();
  /** Host-side mounts of the sandboxes (roots, sysfs, shared image mounts); ready once list() or start() ran. */
  readonly hostMounts: HostMounts;
  private readonly cgroupNamespace = hasCgroupNamespace();
  private readonly nofile = sandboxNofile();
  private ready: Promise<void> | undefined;
  /** Shims this process spawned. */
  private readonly shims = new Map<string, ShimHandle>();
  /** App pids, so a readiness probe reads no pid file on its hot path. */
  private readonly appPids = new Map<string, number>();
  private readonly waiters = new Map<string, Promise<SandboxExit>>();
  /** Exits of sandboxes removed while a waitExit was pending (their exit file is gone). */
  private readonly removedExits = new Map<string, SandboxExit>();

  constructor(opts: OciDriverOptions, cli: { bin: string; dirName: string; globalArgs?: readonly string[] }) {
    this.stateDir = resolve(opts.stateDir);
    this.sandboxesDir = join(this.stateDir, 'sandboxes');
    this.shimPath = resolve(opts.shimPath);
    this.cli = new OciCli(cli.bin, join(this.stateDir, cli.dirName), cli.globalArgs);
    this.log = opts.logger ?? silentLogger;
    this.cgroupParent = '/' + (opts.cgroupParent ?? '/hangar').replace(/^\/+|\/+$/g, '');
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    this.useInit = opts.init ?? true;
    this.hostMounts = new HostMounts(this.stateDir, this.sandboxesDir, resolve(opts.idmountPath ?? join(dirname(this.shimPath), 'hangar-idmount')));
  }

  private dir(id: string): string {
    return join(this.sandboxesDir, id);
  }

  private cgroupPath(id: string): string {
    return `${this.cgroupParent}/${id}`;
  }

  private init(): Promise<void> {
    this.ready ??= Promise.all([
      mkdir(this.sandboxesDir, { recursive: true, mode: 0o700 }),
      mkdir(this.cli.root, { recursive: true, mode: 0o700 }),
    ])
      .then(() => this.hostMounts.init())
      .then(undefined, (e: unknown) => {
        this.ready = undefined;
        throw new HangarError('unavailable', `cannot create ${this.stateDir}: ${(e as Error).message}`, { cause: e });
      });
    return this.ready;
  }

  async start(spec: SandboxSpec): Promise<{ pid: number }> {
    const { id } = spec;
    checkSpec(this, spec);
    await this.init();
    await checkRootfs(spec);
    const dir = this.dir(id);
    if (await exists(join(this.cli.root, id))) throw new HangarError('already_exists', `sandbox ${id} already exists`);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new HangarError('already_exists', `sandbox ${id} already exists`);
      throw new HangarError('unavailable', `cannot create ${dir}: ${(e as Error).message}`, { cause: e });
    }
    const t0 = performance.now();
    const cgroupsPath = this.cgroupPath(id);
    try {
      const { view: host, prepArgv } = await this.hostMounts.prepare(spec);
      const config = buildOciConfig(spec, {
        cgroupsPath,
        cgroupNamespace: this.cgroupNamespace,
        nofile: this.nofile,
        host,
        ...(this.useInit ? { initPath: this.shimPath } : {}),
      });
      await writeFile(join(dir, 'config.json'), JSON.stringify(config));
      const shim = await startShim({
        shimPath: this.shimPath,
        dir,
        logPath: spec.logPath,
        oomFile: this.cgroups.oomFile(cgroupsPath),
        init: this.useInit,
        runcArgv: this.cli.runArgv(id, dir, join(dir, 'pid'), join(dir, 'runc.log'), this.useInit ? 1 : 0),
        ...(prepArgv ? { prepArgv } : {}),
        timeoutMs: this.startTimeoutMs,
      });
      this.shims.set(id, shim);
      this.appPids.set(id, shim.appPid);
      void shim.exited.then(() => this.log.debug({ id }, 'sandbox shim exited'));
      this.log.debug({ id, pid: shim.appPid, ms: Math.round(performance.now() - t0) }, 'sandbox started');
      return { pid: shim.appPid };
    } catch (e) {
      let why = (e as Error).message;
      if (e instanceof ShimError && e.runcFailed) why = (await OciCli.loggedError(join(dir, 'runc.log'))) || why;
      await this.remove(id).catch((re: unknown) => this.log.warn({ id, err: re }, 'cleanup after failed start'));
      if (e instanceof HangarError) throw e;
      throw new HangarError('unavailable', `starting sandbox ${id}: ${why}`, { cause: e });
    }
  }

  private async readExit(id: string): Promise<SandboxExit | undefined> {
    const text = await readFile(join(this.dir(id), 'exit'), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : parseExit(text);
  }

  /** Whether the shim of `id` still runs (pid from shim.pid, checked against its command line). */
  private async shimAlive(id: string): Promise<boolean> {
    const own = this.shims.get(id);
    if (own) return !own.done;
    const pid = await readPid(join(this.dir(id), 'shim.pid'));
    if (pid === undefined) return false;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => '')).split('\0');
    return argv[1] === this.dir(id);
  }

  private async appRunning(id: string): Promise<boolean> {
    const st = await this.cli.state(id).catch(() => undefined);
    return st !== undefined && st.status !== 'stopped';
  }

  /** The exit when the shim died without writing one: the sandbox is lost (a platform stop); persisted so every reader agrees. */
  private async lostExit(id: string): Promise<SandboxExit> {
    const exit: SandboxExit = {
      exitCode: null,
      signal: null,
      oomKilled: await this.cgroups.oomKilled(this.cgroupPath(id)),
      lost: true,
      at: new Date(),
    };
    const json = JSON.stringify({ ...exit, at: exit.at.getTime() });
    await writeFile(join(this.dir(id), 'exit'), json, { flag: 'wx' }).catch(() => undefined);
    return (await this.readExit(id)) ?? exit;
  }

  private async known(id: string): Promise<boolean> {
    return (await exists(this.dir(id))) || (await exists(join(this.cli.root, id)));
  }

  waitExit(id: string): Promise<SandboxExit> {
    let w = this.waiters.get(id);
    if (!w) {
      w = this.waitExitOnce(id).finally(() => {
        this.waiters.delete(id);
        this.removedExits.delete(id);
      });
      this.waiters.set(id, w);
    }
    return w;
  }

  private async waitExitOnce(id: string): Promise<SandboxExit> {
    const now = await this.readExit(id);
    if (now) return now;
    const own = this.shims.get(id);
    if (own) {
      await own.exited;
      return (await this.readExit(id)) ?? this.removedExits.get(id) ?? this.lostExit(id);
    }
    if (!(await this.known(id))) throw notFound(`sandbox ${id} not found`);
    // Adopted after a restart: the shim is not our child, so poll.
    for (;;) {
      await idle(ADOPTED_POLL_MS);
      const exit = await this.readExit(id);
      if (exit) return exit;
      if (!(await this.shimAlive(id))) {
        const late = await this.readExit(id);
        if (late) return late;
        const removed = this.removedExits.get(id);
        if (removed) return removed;
        if (!(await exists(this.dir(id)))) throw notFound(`sandbox ${id} was removed`);
        if (!(await this.appRunning(id))) return this.lostExit(id);
      }
    }
  }

  async kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    checkId(id);
    if (await this.readExit(id)) return;
    try {
      await this.cli.kill(id, signal);
    } catch (e) {
      if (e instanceof HangarError && e.kind === 'failed_precondition') return; // already stopped
      if (e instanceof HangarError && e.kind === 'not_found') throw notFound(`sandbox ${id} not found`);
      throw e;
    }
    // A frozen (v1) task does not die until thawed.
    if (signal === 'SIGKILL' && (await this.cgroups.frozen(this.cgroupPath(id)))) {
      await this.cli.resume(id).catch(() => undefined);
    }
  }

  protected async pause(id: string): Promise<void> {
    checkId(id);
    await this.cli.pause(id).catch((e: unknown) => this.rethrow(id, e));
  }

  protected async resume(id: string): Promise<void> {
    checkId(id);
    await this.cli.resume(id).catch((e: unknown) => this.rethrow(id, e));
  }

  private rethrow(id: string, e: unknown): never {
    if (e instanceof HangarError && e.kind === 'not_found') throw notFound(`sandbox ${id} not found`);
    throw e;
  }

  /** Resolves once the shim is gone (after killing it if it outlives `ms`). */
  private async shimGone(id: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    const own = this.shims.get(id);
    if (own) {
      await orTimeout(own.exited, ms);
      if (!own.done) {
        this.log.warn({ id, pid: own.shimPid }, 'shim did not exit, killing it');
        try {
          process.kill(own.shimPid, 'SIGKILL');
        } catch {
          // already gone
        }
        await orTimeout(own.exited, 5000);
      }
      return;
    }
    while (await this.shimAlive(id)) {
      if (Date.now() > deadline) {
        const pid = await readPid(join(this.dir(id), 'shim.pid'));
        this.log.warn({ id, pid }, 'shim did not exit, killing it');
        if (pid !== undefined && (await this.shimAlive(id))) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      await sleep(REMOVE_POLL_MS);
    }
  }

  async remove(id: string): Promise<void> {
    checkId(id);
    if ((await this.known(id)) || this.shims.has(id)) await this.removeSandbox(id); // else never started: no runc spawns (each blocks the node's thread)
    const left = await this.cgroups.remove(this.cgroupPath(id));
    if (left.length > 0) throw new HangarError('unavailable', `sandbox ${id}: cannot remove cgroup ${left.join(', ')}`);
  }

  private async removeSandbox(id: string): Promise<void> {
    const st = await this.cli.state(id).catch(() => undefined);
    if (st && st.status !== 'stopped') {
      await this.cli.kill(id, 'SIGKILL').catch(() => undefined);
      if (await this.cgroups.frozen(this.cgroupPath(id))) await this.cli.resume(id).catch(() => undefined);
    }
    // The shim exits right after writing the exit file; wait so it writes nothing into a removed dir.
    await this.shimGone(id, REMOVE_WAIT_MS);
    if (this.waiters.has(id)) {
      // A pending waitExit may not find the exit file any more: hand it the exit directly.
      const exit = (await this.readExit(id)) ?? { exitCode: null, signal: 'SIGKILL', oomKilled: false, at: new Date() };
      if (this.waiters.has(id)) this.removedExits.set(id, exit);
    }
    await this.cli.delete(id);
    await this.hostMounts.release(id);
    await rm(this.dir(id), { recursive: true, force: true });
    this.shims.delete(id);
    this.appPids.delete(id);
  }

  private info(id: string, st: OciState | undefined, exit: SandboxExit | undefined): SandboxInfo {
    if (exit) return { id, state: 'stopped', exit };
    if (!st || st.status === 'stopped') return { id, state: 'stopped' };
    const info: SandboxInfo = { id, state: st.status === 'paused' ? 'paused' : 'running' };
    if (st.pid > 0) info.pid = st.pid;
    return info;
  }

  async inspect(id: string): Promise<SandboxInfo | undefined> {
    if (!ID_RE.test(id)) return undefined;
    let exit = await this.readExit(id);
    if (exit) return this.info(id, undefined, exit);
    const st = await this.cli.state(id);
    if (!st && !(await exists(this.dir(id)))) return undefined;
    if (st?.status === 'stopped') {
      // The app is gone and the shim is about to write the exit file.
      for (let i = 0; i < 50 && !exit && (await this.shimAlive(id)); i++) {
        await sleep(REMOVE_POLL_MS);
        exit = await this.readExit(id);
      }
      exit ??= await this.readExit(id);
    }
    return this.info(id, st, exit);
  }

  async list(): Promise<SandboxInfo[]> {
    await this.init();
    const [states, dirs] = await Promise.all([this.cli.list(), readdir(this.sandboxesDir).catch(() => [] as string[])]);
    const byId = new Map(states.map((s) => [s.id, s]));
    const ids = [...new Set([...byId.keys(), ...dirs.filter((d) => ID_RE.test(d))])].sort();
    return Promise.all(ids.map(async (id) => this.info(id, byId.get(id), await this.readExit(id))));
  }

  async stats(id: string): Promise<SandboxStats> {
    checkId(id);
    try {
      return await this.cgroups.usage(this.cgroupPath(id));
    } catch (e) {
      if (!(await this.known(id))) throw notFound(`sandbox ${id} not found`);
      if (await this.readExit(id)) return { rssBytes: 0, cpuTimeMs: 0 };
      throw new HangarError('unavailable', `sandbox ${id}: cannot read cgroup stats: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Host pid of the app (undefined before runc wrote it); not_found for an unknown sandbox. */
  protected async appPid(id: string): Promise<number | undefined> {
    let pid = this.appPids.get(id);
    if (pid === undefined) {
      checkId(id);
      pid = await readPid(join(this.dir(id), 'pid'));
      if (pid === undefined) {
        if (!(await this.known(id))) throw notFound(`sandbox ${id} not found`);
        return undefined;
      }
      this.appPids.set(id, pid);
    }
    return pid;
  }

  /** Path of the state directory of sandbox `id` (for diagnostics and tests). */
  sandboxDir(id: string): string {
    return this.dir(id);
  }

  /** Whether anything of sandbox `id` is left on disk (state dir or runc state). */
  async exists(id: string): Promise<boolean> {
    return this.known(id);
  }
}
