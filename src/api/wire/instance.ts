import type { Instance, InstanceRom } from '../../core/instance.js';
import { romDevicePath } from '../../core/instances/roms.js';
import type { ServiceGroup } from '../../core/services/group.js';
import { instanceGroupToWire } from './service-group.js';

/**
 * A ROM as the instance object shows it: the contract's `{name, image?, at?,
 * files?}` (inline files by path only: their bytes are in the ROM, not
 * echoed), plus where the app finds it and what it is.
 */
export function romToWire(r: InstanceRom): Record<string, unknown> {
  return {
    name: r.name,
    ...(r.image !== undefined ? { image: r.image } : {}),
    ...(r.at !== undefined ? { at: r.at } : {}),
    ...(r.files !== undefined ? { files: r.files.map((path) => ({ path })) } : {}),
    device: romDevicePath(r),
    digest: r.digest,
    format: r.format,
    size_in_bytes: r.sizeBytes,
  };
}

/** Instance → the UKC wire object (`Instance` in the platform OpenAPI). */
export function instanceToWire(inst: Instance, uptimeMs: number, details = true, group?: ServiceGroup): Record<string, unknown> {
  if (!details) return { status: 'success', uuid: inst.uuid, name: inst.name };
  const w: Record<string, unknown> = {
    status: 'success',
    uuid: inst.uuid,
    name: inst.name,
    created_at: inst.createdAt,
    state: inst.state,
    image: inst.image,
    memory_mb: inst.memoryMb,
    vcpus: inst.vcpus,
    args: inst.args ?? [],
    env: inst.env ?? {},
    start_count: inst.startCount,
    restart_count: inst.restartCount,
    uptime_ms: uptimeMs,
    restart_policy: inst.restartPolicy,
    private_fqdn: `${inst.name}.internal`,
    hostname: inst.hostname,
    tags: inst.tags,
    features: inst.features,
    delete_lock: inst.deleteLock,
    type: 'micro',
    volumes: [],
    roms: (inst.roms ?? []).map(romToWire),
  };
  if (group) w['service_group'] = instanceGroupToWire(group);
  if (inst.startedAt) w['started_at'] = inst.startedAt;
  if (inst.stoppedAt) w['stopped_at'] = inst.stoppedAt;
  if (inst.bootTimeUs !== undefined) w['boot_time_us'] = inst.bootTimeUs;
  if (inst.netTimeUs !== undefined) w['net_time_us'] = inst.netTimeUs;
  if (inst.stopReason !== undefined) w['stop_reason'] = inst.stopReason;
  if (inst.exitCode !== undefined) w['exit_code'] = inst.exitCode;
  if (inst.stopCode !== undefined) w['stop_code'] = inst.stopCode;
  if (inst.restart) w['restart'] = { attempt: inst.restart.attempt, ...(inst.restart.nextAt ? { next_at: inst.restart.nextAt } : {}) };
  if (inst.network) {
    w['private_ip'] = inst.network.ip;
    w['network_interfaces'] = [{ uuid: inst.network.interfaceUuid, name: 'eth0', private_ip: inst.network.ip, mac: inst.network.mac }];
  } else {
    w['network_interfaces'] = [];
  }
  return w;
}
