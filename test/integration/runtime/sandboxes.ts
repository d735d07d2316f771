/**
 * The per-file setup of driver tests: a busybox rootfs in a temp dir, a driver
 * over a state dir beside it, optionally a network namespace, and cleanup of
 * every sandbox a test started whatever happened. `useSandboxes` registers the
 * before/after hooks in the calling scope. Not a test file by itself.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { RuntimeDriver, SandboxSpec } from '../../../src/core/ports/runtime.js';
import { SANDBOX_ID_BASE } from '../../../src/lib/idmap.js';
import { removeCgroupParent } from '../../helpers/leaks.js';
import { assertNoSuchBinary, createNetns, makeBusyboxRootfs, pidsMentioning, snapshotTree, type TestNetns } from './fixtures.js';

const DEFAULT_CGROUP_PARENT = '/hangar';

export interface SandboxesOptions<D extends RuntimeDriver> {
  tag: string;
  make(stateDir: string): D;
  /** What the driver left on the host for sandbox `id`; empty = nothing. */
  leftovers(id: string, stateDir: string): string[];
  netns?: boolean;
}

export class Sandboxes<D extends RuntimeDriver> {
  tmp = '';
  rootfs = '';
  stateDir = '';
  driver!: D;
  net: TestNetns | undefined;
  private rootfsBefore = new Map<string, string>();
  /** Every sandbox a test started, on every driver object. */
  private readonly started = new Map<string, RuntimeDriver>();

  constructor(private readonly o: SandboxesOptions<D>) {}

  async setUp(): Promise<void> {
    this.tmp = await mkdtemp(join(tmpdir(), `hangar-${this.o.tag}-`));
    // The sandbox's root is host uid SANDBOX_ID_BASE: it must be able to traverse to its rootfs.
    await chmod(this.tmp, 0o755);
    this.rootfs = join(this.tmp, 'rootfs');
    await makeBusyboxRootfs(this.rootfs);
    this.rootfsBefore = await snapshotTree(this.rootfs);
    this.stateDir = join(this.tmp, 'state');
    this.driver = this.o.make(this.stateDir);
    if (this.o.netns) this.net = createNetns(this.o.tag);
  }

  async tearDown(): Promise<void> {
    for (const [id, d] of this.started) await d.remove(id).catch((e: unknown) => console.error(`cleanup of ${id}:`, e));
    this.net?.destroy();
    if (this.tmp) await rm(this.tmp, { recursive: true, force: true });
    // The drivers under test use the default cgroup parent, which runc makes and leaves; only an empty one goes.
    removeCgroupParent(DEFAULT_CGROUP_PARENT);
  }

  newId(tag: string): string {
    return `t-${tag}-${randomUUID().slice(0, 8)}`;
  }

  specFor(id: string, args: string[], extra: Partial<SandboxSpec> = {}): SandboxSpec {
    return {
      id,
      root: { path: this.rootfs, kind: 'dir' },
      mounts: [],
      devices: [],
      process: { args, env: [], cwd: '/', uid: 0, gid: 0 },
      hostname: id,
      limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64 },
      logPath: join(this.tmp, `${id}.log`),
      ...extra,
    };
  }

  /** Starts on `d` and remembers the sandbox for cleanup. */
  async startOn(d: RuntimeDriver, spec: SandboxSpec): Promise<number> {
    this.started.set(spec.id, d);
    return (await d.start(spec)).pid;
  }

  start(spec: SandboxSpec): Promise<number> {
    return this.startOn(this.driver, spec);
  }

  /** From now on `d` is the one to clean `id` up with (e.g. the driver after a restart). */
  handOver(id: string, d: RuntimeDriver): void {
    this.started.set(id, d);
  }

  /** A start that failed left nothing to clean up. */
  forget(id: string): void {
    this.started.delete(id);
  }

  async removeOn(d: RuntimeDriver, id: string): Promise<void> {
    await d.remove(id);
    this.started.delete(id);
  }

  logOf(id: string): Promise<string> {
    return readFile(join(this.tmp, `${id}.log`), 'utf8').catch(() => '');
  }

  assertNothingLeft(id: string): void {
    assert.deepEqual(this.o.leftovers(id, this.stateDir), [], 'left on the host');
    assert.deepEqual(pidsMentioning(id), [], 'processes left');
  }

  /** Starting an app that does not exist on `d` rejects with the reason and leaves nothing. */
  async assertFailedStartIsClean(d: RuntimeDriver): Promise<void> {
    const id = this.newId('fail');
    const err = await this.startOn(d, this.specFor(id, ['/nonexistent/app', '--flag'])).then(
      () => assert.fail('start resolved'),
      (e: unknown) => e,
    );
    this.forget(id);
    assertNoSuchBinary(err);
    this.assertNothingLeft(id);
    assert.equal(await d.inspect(id), undefined);
  }

  async assertRootfsUnmodified(): Promise<void> {
    assert.deepEqual(await snapshotTree(this.rootfs), this.rootfsBefore);
    assert.ok((await stat(join(this.rootfs, 'bin/busybox'))).uid === SANDBOX_ID_BASE);
  }
}

/** Sandboxes for the tests of the calling scope (set up in before(), torn down in after()). */
export function useSandboxes<D extends RuntimeDriver>(o: SandboxesOptions<D>): Sandboxes<D> {
  const sb = new Sandboxes(o);
  before(() => sb.setUp());
  after(() => sb.tearDown());
  return sb;
}
