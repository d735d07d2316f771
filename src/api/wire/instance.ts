import type { Instance } from '../../core/instance.js';

/** Instance → the UKC wire object (`Instance` in the platform OpenAPI). */
export function instanceToWire(inst: Instance, uptimeMs: number, details = true): Record<string, unknown> {
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
  };
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
