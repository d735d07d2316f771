import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { emitRomPackage } from '../../../src/builder/pkg.js';
import { RegistryClient } from '../../../src/distribution/client.js';
import { pushLayout } from '../../../src/image/push.js';
import { exec } from '../../../src/lib/exec.js';
import { eventually, type TestNode } from '../../helpers/node.js';

/** Builds a ROM-only package (one rom.v1 layer, as `hangar pkg` of a ROM Kraftfile) of `files` and pushes it to the node's /v2/ as `ref`. */
export async function importRomImage(n: TestNode, ref: string, files: Record<string, string>, format: 'erofs' | 'cpio' = 'erofs'): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'hangar-it-rom-'));
  try {
    const src = join(work, 'fs');
    for (const [p, data] of Object.entries(files)) {
      mkdirSync(dirname(join(src, p)), { recursive: true });
      writeFileSync(join(src, p), data);
    }
    const out = await emitRomPackage([{ path: src, format }], { ref, tag: ref.split(':')[1] ?? 'latest', outDir: join(work, 'out'), timestamp: 0, workDir: work });
    const [repo, tag] = ref.split(':') as [string, string];
    const client = new RegistryClient({ registry: n.url, credentials: { username: 'admin', password: n.token }, timeoutMs: 10_000 });
    try {
      await pushLayout(client, out.layoutDir, repo, tag);
    } finally {
      client.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * An app (busybox sh from the hello image) that reports each ROM device it
 * sees: `DEV <path> <sha256> <4 bytes at 1024 in hex>`, whether it could write
 * it, then `extra`'s output, then DONE; and stays up.
 */
export function probeArgs(extra = ''): string[] {
  const script = [
    'echo BEGIN',
    'for d in /dev/ukp_rom*; do [ -e "$d" ] || continue;',
    '  echo "DEV $d $(busybox sha256sum $d | busybox cut -d" " -f1) $(busybox dd if=$d bs=1 skip=1024 count=4 2>/dev/null | busybox od -An -tx1 | busybox tr -d " \\n")";',
    '  if (echo x >> $d) 2>/dev/null; then echo "WRITABLE $d"; else echo "READONLY $d"; fi;',
    'done',
    extra,
    'echo DONE',
    'exec busybox sleep 600',
  ].join('\n');
  return ['/bin/busybox', 'sh', '-c', script];
}

export interface Probe {
  /** device path → [sha256 hex, 4 bytes at offset 1024 as hex] */
  devices: Map<string, [string, string]>;
  writable: string[];
  lines: string[];
}

/** The report of the instance's latest run (after its last BEGIN). */
export async function readProbe(n: TestNode, name: string): Promise<Probe> {
  const text = await eventually(async () => {
    const r = await n.api('GET', `/v1/instances/log?name=${name}`);
    const out = Buffer.from(String(r.items[0]?.['output'] ?? ''), 'base64').toString('utf8');
    const last = out.slice(out.lastIndexOf('BEGIN'));
    return out.includes('BEGIN') && last.includes('DONE') ? last : undefined;
  }, 15_000);
  const lines = text.split('\n');
  const devices = new Map<string, [string, string]>();
  for (const l of lines) {
    const m = /^DEV (\S+) ([0-9a-f]{64}) ([0-9a-f]*)$/.exec(l);
    if (m) devices.set(m[1]!, [m[2]!, m[3]!]);
  }
  return { devices, writable: lines.filter((l) => l.startsWith('WRITABLE')), lines };
}

/** The EROFS superblock magic 0xE0F5E1E2, as its little-endian bytes read. */
export const EROFS_MAGIC_BYTES = 'e2e1f5e0';

/** Files in the node's ROM store (bytes by digest) and its temp folder. */
export function romStore(home: string): { files: string[]; tmp: string[] } {
  const ls = (d: string): string[] => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  };
  return { files: ls(join(home, 'roms', 'sha256')), tmp: ls(join(home, 'roms', 'tmp')) };
}

/** Loop devices backed by files under `home`, and mounts of it (none may outlive a request). */
export async function hostTraces(home: string): Promise<string[]> {
  const loops = (await exec('losetup', ['-a'], { allowFailure: true })).stdout.split('\n').filter((l) => l.includes(home));
  const mounts = (await exec('findmnt', ['-rn', '-o', 'SOURCE,TARGET'], { allowFailure: true })).stdout.split('\n').filter((l) => l.includes(`${home}/roms`));
  return [...loops.map((l) => `loop ${l}`), ...mounts.map((m) => `mount ${m}`)];
}
