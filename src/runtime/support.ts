/**
 * Checks every driver makes before it creates anything for a spec: what the
 * spec asks for is within what the driver declares it can do, and the limits
 * are sane. Refusing early keeps `start`'s "nothing left behind" promise cheap.
 */
import type { RuntimeDriver, SandboxSpec } from '../core/ports/runtime.js';
import { HangarError, invalid } from '../lib/errors.js';

export const SANDBOX_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkId(id: string): void {
  if (!SANDBOX_ID_RE.test(id)) throw invalid('id', `${JSON.stringify(id)} is not a valid sandbox id`);
}

export function checkSpec(driver: Pick<RuntimeDriver, 'name' | 'mountTypes' | 'rootKinds'>, spec: SandboxSpec): void {
  checkId(spec.id);
  if (!(spec.limits.memoryBytes >= 4 * 1024 * 1024)) throw invalid('limits.memoryBytes', 'must be at least 4 MiB');
  if (!(spec.limits.pids >= 1)) throw invalid('limits.pids', 'must be at least 1');
  if (!(spec.limits.cpus >= 0)) throw invalid('limits.cpus', 'must not be negative');
  if (spec.process.args.length === 0) throw invalid('process.args', 'must not be empty');
  if (!driver.rootKinds.includes(spec.root.kind)) {
    throw new HangarError('failed_precondition', `the ${driver.name} driver cannot boot a root of kind '${spec.root.kind}'`);
  }
  const unsupported = spec.mounts.find((m) => !driver.mountTypes.includes(m.type));
  if (unsupported) {
    throw new HangarError('failed_precondition', `the ${driver.name} driver cannot make ${unsupported.type} mounts (${unsupported.target})`);
  }
}
