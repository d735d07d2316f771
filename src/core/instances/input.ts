import { HangarError, invalid } from '../../lib/errors.js';
import { isDnsLabel } from '../../lib/ids.js';
import { DEFAULT_MEMORY_MB, DEFAULT_VCPUS, type Feature, type RestartPolicy } from '../instance.js';
import type { ImageSource } from '../ports/images.js';
import { checkRoms, type CheckedRom, type RomInput } from './rom-input.js';

/** What a create asks for, after the API has checked shapes and types. */
import type { InstanceGroupInput } from '../services/service.js';

export interface CreateInstanceInput {
  /** The service group publishing it: an existing one, or an inline definition (an ephemeral group). */
  serviceGroup?: InstanceGroupInput;
  name?: string;
  image: string;
  /** Pull policy, credentials and headers of an `ImageSpec` image. */
  imageSource?: ImageSource;
  args?: string[];
  env?: Record<string, string>;
  memoryMb?: number;
  vcpus?: number;
  autostart?: boolean;
  timeoutS?: number;
  replicas?: number;
  restartPolicy?: RestartPolicy;
  features?: Feature[];
  tags?: string[];
  hostname?: string;
  /** ROMs every instance of this create (replicas too) gets. */
  roms?: RomInput[];
}

/** Node-wide bounds on what one instance may ask for. */
export interface InstanceLimits {
  minMemoryMb: number;
  maxMemoryMb: number;
  maxVcpus: number;
  /** Instances one user may hold on this node, whatever their quota: also bounds one request's `replicas`. */
  maxInstancesPerUser: number;
}

export const DEFAULT_LIMITS: InstanceLimits = {
  minMemoryMb: 16,
  maxMemoryMb: 8192,
  maxVcpus: 8,
  maxInstancesPerUser: 2000,
};

export interface CheckedCreate extends Omit<CreateInstanceInput, 'roms'> {
  memoryMb: number;
  vcpus: number;
  restartPolicy: RestartPolicy;
  features: Feature[];
  tags: string[];
  replicas: number;
  roms: CheckedRom[];
}

/** Rules that need the node's limits or span several fields; shapes are the API's job. */
export function checkCreate(input: CreateInstanceInput, limits: InstanceLimits): CheckedCreate {
  const memoryMb = input.memoryMb ?? DEFAULT_MEMORY_MB;
  if (memoryMb < limits.minMemoryMb || memoryMb > limits.maxMemoryMb) {
    throw invalid('memory_mb', `must be between ${limits.minMemoryMb} and ${limits.maxMemoryMb} (got ${memoryMb})`);
  }
  const vcpus = input.vcpus ?? DEFAULT_VCPUS;
  if (vcpus < 1 || vcpus > limits.maxVcpus) throw invalid('vcpus', `must be between 1 and ${limits.maxVcpus} (got ${vcpus})`);
  const replicas = input.replicas ?? 0;
  if (!Number.isInteger(replicas) || replicas < 0) throw invalid('replicas', 'must be a non-negative integer');
  // No cap of its own: the user's instance quota decides (admission). This bound only keeps the name list finite before that check.
  if (replicas + 1 > limits.maxInstancesPerUser) {
    throw new HangarError('resource_exhausted', `quota exceeded: replicas (${replicas + 1} instances asked for; a user may hold at most ${limits.maxInstancesPerUser} on this node)`, { field: 'replicas' });
  }
  if (input.name !== undefined && !isDnsLabel(input.name)) {
    throw invalid('name', `'${input.name}' is not a DNS label (lowercase letters, digits and '-', at most 63)`);
  }
  if (input.hostname !== undefined && !isDnsLabel(input.hostname)) {
    throw invalid('hostname', `'${input.hostname}' is not a DNS label`);
  }
  const restartPolicy = input.restartPolicy ?? 'never';
  const features = [...new Set(input.features ?? [])];
  if (features.includes('delete-on-stop') && restartPolicy !== 'never') {
    throw invalid('features', "'delete-on-stop' needs restart_policy 'never'");
  }
  // -1 means "wait forever": without autostart the instance never runs, so the request would never answer.
  if (input.timeoutS !== undefined && input.timeoutS !== 0 && input.autostart === false) {
    throw invalid('timeout_s', 'needs autostart (a stopped instance never becomes running)');
  }
  if (input.env) {
    for (const k of Object.keys(input.env)) {
      if (k === '' || k.includes('=') || k.includes('\0')) throw invalid('env', `bad variable name '${k}'`);
    }
  }
  const { roms, ...rest } = input;
  return { ...rest, memoryMb, vcpus, replicas, restartPolicy, features, tags: input.tags ?? [], roms: checkRoms(roms ?? []) };
}

/** Names for `replicas` extra copies: web, web-1, web-2 … */
export function replicaNames(base: string, replicas: number): string[] {
  const names = [base];
  for (let i = 1; i <= replicas; i++) names.push(`${base}-${i}`.slice(0, 63));
  return names;
}
