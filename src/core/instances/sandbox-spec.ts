import { idRangeBase } from '../../lib/idmap.js';
import type { Instance } from '../instance.js';
import type { ResolvedImage } from '../ports/images.js';
import type { NetworkAttachment } from '../ports/network.js';
import type { SandboxSpec } from '../ports/runtime.js';
import type { InstanceRom } from '../instance.js';
import { romSandboxParts } from './roms.js';

export const PIDS_LIMIT = 1024;

/**
 * The sandbox an instance runs in. UKC's `args` is the whole argv (a Kraftfile
 * `cmd` is too), so it replaces the image's entrypoint+cmd rather than
 * appending to the entrypoint as Docker would.
 */
export function sandboxSpecFor(inst: Instance, image: ResolvedImage, net: NetworkAttachment, logPath: string, roms: ReadonlyArray<{ rom: InstanceRom; path: string }> = []): SandboxSpec {
  const rom = romSandboxParts(roms);
  const argv = inst.args && inst.args.length > 0 ? inst.args : [...image.config.entrypoint, ...image.config.cmd];
  const env = new Map<string, string>();
  for (const kv of image.config.env) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  if (!env.has('PATH')) env.set('PATH', '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin');
  env.set('HOSTNAME', inst.hostname);
  for (const [k, v] of Object.entries(inst.env ?? {})) env.set(k, v);
  const [uid, gid] = parseUser(image.config.user);
  return {
    id: inst.uuid,
    root: { path: image.rootfs, kind: 'dir', writable: { sizeBytes: inst.memoryMb * 1024 * 1024 } },
    mounts: [
      { type: 'bind', source: net.hosts, target: '/etc/hosts', readonly: true },
      { type: 'bind', source: net.resolvConf, target: '/etc/resolv.conf', readonly: true },
      ...rom.mounts,
    ],
    devices: rom.devices,
    process: { args: argv, env: [...env].map(([k, v]) => `${k}=${v}`), cwd: image.config.workingDir || '/', uid, gid },
    hostname: inst.hostname,
    limits: { memoryBytes: inst.memoryMb * 1024 * 1024, cpus: inst.vcpus, pids: PIDS_LIMIT },
    netnsPath: net.netnsPath,
    ...(inst.idRange !== undefined ? { idMapBase: idRangeBase(inst.idRange) } : {}),
    logPath,
  };
}

/** Numeric `uid[:gid]` only: a named user would need the image's /etc/passwd. */
function parseUser(user: string): [number, number] {
  const m = /^(\d+)(?::(\d+))?$/.exec(user.trim());
  if (!m) return [0, 0];
  const uid = Number(m[1]);
  return [uid, m[2] === undefined ? uid : Number(m[2])];
}
