import { invalid } from '../../lib/errors.js';
import { isDnsLabel } from '../../lib/ids.js';
import type { Instance } from '../instance.js';
import type { InstanceLimits } from './input.js';

export const UPDATABLE_PROPS = ['image', 'args', 'env', 'memory_mb', 'vcpus', 'tags', 'delete_lock', 'hostname'] as const;
export type UpdatableProp = (typeof UPDATABLE_PROPS)[number];

export interface UpdateOp {
  prop: UpdatableProp;
  op: 'set' | 'add' | 'del';
  value?: unknown;
}

const strings = (v: unknown, field = 'value'): string[] => {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw invalid(field, 'must be a string or an array of strings');
};

const stringMap = (v: unknown): Record<string, string> => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid('value', 'must be an object of strings');
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw invalid(`value.${k}`, 'must be a string');
  return v as Record<string, string>;
};

/** Args and env values reach execve as C strings: a NUL would cut them short and the start would fail. */
const execSafe = <T extends Instance['args'] | Instance['env']>(v: T): T => {
  const vals = Array.isArray(v) ? v : Object.values(v ?? {});
  vals.forEach((x, i) => {
    if (x.includes('\0')) throw invalid(Array.isArray(v) ? `value[${i}]` : 'value', 'must not contain NUL bytes');
  });
  if (Array.isArray(v) && v[0] === '') throw invalid('value[0]', 'the program (first argument) must not be empty');
  return v;
};

const int = (v: unknown, min: number, max: number): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid('value', `must be an integer between ${min} and ${max}`);
  return v;
};

/**
 * The instance after one `{prop, op, value}` change. Changes to a running
 * instance are stored and take effect at its next start.
 */
export function applyUpdate(inst: Instance, u: UpdateOp, limits: InstanceLimits): Instance {
  const next: Instance = { ...inst };
  const op = u.op;
  switch (u.prop) {
    case 'image':
      if (op !== 'set' || typeof u.value !== 'string' || u.value === '') throw invalid('value', "image takes op 'set' with a reference string");
      next.image = u.value;
      return next;
    case 'args':
      if (op === 'del') delete next.args;
      else if (op === 'set') next.args = execSafe(strings(u.value));
      else next.args = execSafe([...(inst.args ?? []), ...strings(u.value)]);
      return next;
    case 'env': {
      if (op === 'del') {
        const drop = u.value === undefined ? Object.keys(inst.env ?? {}) : strings(u.value);
        next.env = Object.fromEntries(Object.entries(inst.env ?? {}).filter(([k]) => !drop.includes(k)));
      } else {
        const m = stringMap(u.value);
        next.env = execSafe(op === 'set' ? m : { ...(inst.env ?? {}), ...m });
      }
      return next;
    }
    case 'memory_mb':
      if (op !== 'set') throw invalid('op', "memory_mb takes op 'set'");
      next.memoryMb = int(u.value, limits.minMemoryMb, limits.maxMemoryMb);
      return next;
    case 'vcpus':
      if (op !== 'set') throw invalid('op', "vcpus takes op 'set'");
      next.vcpus = int(u.value, 1, limits.maxVcpus);
      return next;
    case 'tags': {
      const t = u.value === undefined && op === 'del' ? inst.tags : strings(u.value);
      next.tags = op === 'set' ? [...new Set(t)] : op === 'add' ? [...new Set([...inst.tags, ...t])] : inst.tags.filter((x) => !t.includes(x));
      return next;
    }
    case 'delete_lock':
      if (op === 'del') next.deleteLock = false;
      else if (typeof u.value === 'boolean') next.deleteLock = u.value;
      else throw invalid('value', 'must be a boolean');
      return next;
    case 'hostname':
      if (op === 'del') next.hostname = inst.name;
      else if (typeof u.value === 'string' && isDnsLabel(u.value)) next.hostname = u.value;
      else throw invalid('value', 'must be a DNS label');
      return next;
  }
}
