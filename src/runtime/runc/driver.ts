/**
 * The runc machine driver: an OciDriver over the runc CLI, with the cgroup
 * freezer for standby. Its sandboxes' sockets live in the host kernel, so
 * readiness reads the LISTEN table of the app's network namespace.
 */
import type { Freezer, ReadinessProbe } from '../../core/ports/runtime.js';
import { OciDriver, type OciDriverOptions } from '../oci/driver.js';
import { netnsListening } from '../oci/procnet.js';

export interface RuncDriverOptions extends OciDriverOptions {
  /** Default 'runc' (looked up in PATH). */
  runcPath?: string;
}

export class RuncDriver extends OciDriver {
  readonly name = 'runc';
  readonly imageKinds = ['oci'] as const;
  /** `image` mounts are made on the host (see oci/hostmounts.ts); `overlay` mounts are not offered (a writable root is SandboxRoot.writable). */
  readonly mountTypes = ['bind', 'tmpfs', 'image'] as const;
  readonly rootKinds = ['dir'] as const;
  readonly freezer: Freezer = { pause: (id) => this.pause(id), resume: (id) => this.resume(id) };
  /** No connection reaches the app, and `net_time_us` keeps counting to its first listen(). */
  readonly readiness: ReadinessProbe = {
    ready: async (t) => {
      const pid = await this.appPid(t.id);
      return pid !== undefined && netnsListening(pid);
    },
  };

  constructor(opts: RuncDriverOptions) {
    super(opts, { bin: opts.runcPath ?? 'runc', dirName: 'runc' });
  }
}
