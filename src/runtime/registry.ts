/**
 * The node's sandbox drivers by name. Instances name the driver they run on
 * (absent: the node's default), so runc and, later, runsc or QEMU sandboxes
 * live side by side on one node.
 */
import type { RuntimeDriver, RuntimeRegistry } from '../core/ports/runtime.js';
import { HangarError } from '../lib/errors.js';

export class DriverRegistry implements RuntimeRegistry {
  private readonly byName = new Map<string, RuntimeDriver>();
  readonly default: RuntimeDriver;

  constructor(drivers: readonly RuntimeDriver[], defaultName: string) {
    for (const d of drivers) {
      if (this.byName.has(d.name)) throw new HangarError('invalid_argument', `two runtime drivers are called '${d.name}'`);
      this.byName.set(d.name, d);
    }
    const def = this.byName.get(defaultName);
    if (!def) throw new HangarError('invalid_argument', `the default runtime '${defaultName}' is not one of: ${[...this.byName.keys()].join(', ')}`, { field: 'runtime' });
    this.default = def;
  }

  get(name?: string): RuntimeDriver {
    if (name === undefined) return this.default;
    const d = this.byName.get(name);
    if (!d) throw new HangarError('failed_precondition', `this node has no '${name}' runtime driver`);
    return d;
  }

  all(): readonly RuntimeDriver[] {
    return [...this.byName.values()];
  }

  runsKind(kind: string): boolean {
    return this.all().some((d) => d.imageKinds.includes(kind));
  }
}
