/**
 * Maps checked request bodies of /v1/instances (snake_case wire shapes) to the
 * core's create and ROM-update inputs.
 */
import type { CreateInstanceInput } from '../../core/instances/input.js';
import type { RomsUpdate } from '../../core/instances/service.js';
import type { RomInput } from '../../core/instances/rom-input.js';
import type { ImageSource } from '../../core/ports/images.js';
import type { InstanceGroupInput } from '../../core/services/service.js';
import { parseWith } from '../schemas/common.js';
import { romsAddSchema, romsDelSchema, type CreateInstanceBody, type RomBody } from '../schemas/instances.js';
import type { InstanceGroupBody } from '../schemas/services.js';
import { toDomainInput, toServiceInput } from './services.js';

type ImageBody = CreateInstanceBody['image'];

/** The non-`url` parts of an ImageSpec, when it has any. */
function imageSourceOf(image: ImageBody): ImageSource | undefined {
  if (typeof image === 'string') return undefined;
  const { credentials, headers, pull_policy } = image;
  if (!credentials && !headers && !pull_policy) return undefined;
  return { ...(credentials ? { credentials } : {}), ...(headers ? { headers } : {}), ...(pull_policy ? { pullPolicy: pull_policy } : {}) };
}

function toRomInput(r: RomBody): RomInput {
  const source = r.image === undefined ? undefined : imageSourceOf(r.image);
  return {
    ...(r.name !== undefined ? { name: r.name } : {}),
    ...(r.image !== undefined ? { image: typeof r.image === 'string' ? r.image : r.image.url } : {}),
    ...(source ? { imageSource: source } : {}),
    ...(r.at !== undefined ? { at: r.at } : {}),
    ...(r.files !== undefined ? { files: r.files } : {}),
  };
}

/** A PATCH of `roms`, its value checked for shape (errors name `value…`). */
export function toRomsUpdate(op: 'set' | 'add' | 'del', value: unknown): RomsUpdate {
  if (op === 'del') {
    const names = parseWith(romsDelSchema, value, 'value');
    return names === undefined ? { op } : { op, names: typeof names === 'string' ? [names] : names };
  }
  const roms = parseWith(romsAddSchema, value, 'value');
  return { op, roms: (Array.isArray(roms) ? roms : [roms]).map(toRomInput) };
}

export function toCreateInput(b: CreateInstanceBody): CreateInstanceInput {
  const input: CreateInstanceInput = { image: typeof b.image === 'string' ? b.image : b.image.url };
  const imageSource = imageSourceOf(b.image);
  if (imageSource) input.imageSource = imageSource;
  if (b.roms !== undefined) input.roms = b.roms.map(toRomInput);
  if (b.name !== undefined) input.name = b.name;
  if (b.args !== undefined) input.args = b.args;
  if (b.env !== undefined) input.env = b.env;
  if (b.memory_mb !== undefined) input.memoryMb = b.memory_mb;
  if (b.vcpus !== undefined) input.vcpus = b.vcpus;
  if (b.autostart !== undefined) input.autostart = b.autostart;
  const timeoutS = b.timeout_s ?? (b.wait_timeout_ms !== undefined ? Math.ceil(b.wait_timeout_ms / 1000) : undefined);
  if (timeoutS !== undefined) input.timeoutS = timeoutS;
  if (b.replicas !== undefined) input.replicas = b.replicas;
  if (b.restart_policy !== undefined) input.restartPolicy = b.restart_policy;
  if (b.features !== undefined) input.features = b.features;
  if (b.tags !== undefined) input.tags = b.tags;
  if (b.hostname !== undefined) input.hostname = b.hostname;
  if (b.service_group !== undefined) input.serviceGroup = toGroupInput(b.service_group);
  return input;
}

/** `service_group`: a `{uuid}`/`{name}` of an existing group, else an inline definition. */
function toGroupInput(g: InstanceGroupBody): InstanceGroupInput {
  if (g.services !== undefined) {
    return {
      define: {
        services: g.services.map(toServiceInput),
        ...(g.domains !== undefined ? { domains: g.domains.map(toDomainInput) } : {}),
        ...(g.soft_limit !== undefined ? { softLimit: g.soft_limit } : {}),
        ...(g.hard_limit !== undefined ? { hardLimit: g.hard_limit } : {}),
      },
    };
  }
  return { ref: g.uuid !== undefined ? { uuid: g.uuid.toLowerCase() } : { name: g.name ?? '' } };
}

/** Refs given as repeated query params (js-sdk) or as a GET body array (go-sdk). */
