/**
 * Benchmark part for bench/central.ts — skopeo push and pull of one image of
 * many small layers, against the node's /v2/ and against docker-registry in
 * the same run.
 *
 * Each layer is an uncompressed tar with one file of 1–4 KiB random bytes, so
 * every layer (and every run's image) is distinct: nothing is deduplicated,
 * neither between layers nor across runs. Each run pushes to a fresh
 * repository and tag on both registries. The per-layer cost (a HEAD, a POST, a
 * PUT or PATCH+PUT per blob on push; a GET per blob on pull) dominates, not the
 * bytes.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../src/lib/exec.js';
import { buildOciImage, writeOciArchive, type BuiltOciImage } from '../src/image/oci-writer.js';
import { buildTar } from '../src/image/tar-writer.js';
import { checkAbort, now } from './harness.js';

export interface LayersTarget {
  /** Label, e.g. `hangar node /v2/`. */
  target: string;
  /** `host:port` on loopback. */
  host: string;
  /** `user:password` for skopeo, if the registry wants it. */
  creds?: string;
  /** Called after each run's push+pull to drop what was pushed (e.g. the node's catalog entry). */
  cleanup?: (repo: string, tag: string) => Promise<void>;
}

export interface LayersRow {
  target: string;
  op: 'push' | 'pull';
  run: number;
  seconds: number;
  layersPerS: number;
  mibPerS: number;
}

export interface LayersResult {
  layers: number;
  /** Bytes of all layer blobs of one image (the oci-archive is a little larger). */
  layerBytes: number;
  archiveBytes: number;
  rows: LayersRow[];
}

/** An image of `n` distinct tiny uncompressed layers (one 1–4 KiB random file each). */
export function manyLayerImage(n: number, tag: string): { img: BuiltOciImage; layerBytes: number } {
  const layers: Array<{ blob: Buffer }> = [];
  let layerBytes = 0;
  for (let i = 0; i < n; i++) {
    const blob = buildTar([{ path: `layers/${String(i).padStart(5, '0')}`, type: 'file', data: randomBytes(randomInt(1024, 4097)) }]);
    layerBytes += blob.length;
    layers.push({ blob });
  }
  return { img: buildOciImage({ layers, config: { Cmd: ['/bin/true'] }, refName: tag }), layerBytes };
}

/** skopeo copy over plain HTTP with an explicit deadline (killed after timeoutMs). */
async function skopeo(src: string, dest: string, o: { srcCreds?: string; destCreds?: string; timeoutMs: number }): Promise<void> {
  const args = ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false'];
  if (o.srcCreds) args.push('--src-creds', o.srcCreds);
  if (o.destCreds) args.push('--dest-creds', o.destCreds);
  if (!existsSync('/etc/containers/policy.json')) args.unshift('--insecure-policy');
  args.push(src, dest);
  const t0 = now();
  const r = await exec('skopeo', args, { timeoutMs: o.timeoutMs, allowFailure: true });
  if (r.code !== 0) {
    const timedOut = now() - t0 >= o.timeoutMs - 50;
    throw new Error(`skopeo copy ${src} ${dest} ${timedOut ? `timed out after ${o.timeoutMs} ms` : 'failed'}: ${r.stderr.trim().slice(0, 500)}`);
  }
}

/** Blob files in an OCI layout directory. */
function blobCount(dir: string): number {
  try {
    return readdirSync(join(dir, 'blobs', 'sha256')).length;
  } catch {
    return 0;
  }
}

/**
 * `runs` runs; each builds a fresh image of `n` layers, then (alternating the
 * order of the targets between runs) pushes it from an oci-archive and pulls it
 * back into an OCI layout directory, timing each skopeo call.
 */
export async function manyLayersBench(targets: readonly LayersTarget[], n: number, runs: number, log: (s: string) => void): Promise<LayersResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-layers-'));
  const rows: LayersRow[] = [];
  // Generous but bounded: 60 s plus 250 ms a layer per skopeo call (500 layers → ~3 min).
  const timeoutMs = 60_000 + 250 * n;
  let layerBytes = 0;
  let archiveBytes = 0;
  try {
    for (let run = 0; run < runs; run++) {
      checkAbort();
      const id = randomBytes(4).toString('hex');
      const tag = `r${run}-${id}`;
      const built = manyLayerImage(n, tag);
      layerBytes = built.layerBytes;
      const archive = join(dir, `layers-${run}.oci.tar`);
      await writeOciArchive(built.img, archive);
      archiveBytes = statSync(archive).size;
      const mib = archiveBytes / 1024 / 1024;
      for (const t of run % 2 === 0 ? targets : [...targets].reverse()) {
        checkAbort();
        // A repository of its own per run and target: no cross-repo mount, no blob already there.
        const repo = `bench/layers-${id}`;
        const ref = `docker://${t.host}/${repo}:${tag}`;
        let t0 = now();
        await skopeo(`oci-archive:${archive}`, ref, { ...(t.creds ? { destCreds: t.creds } : {}), timeoutMs });
        let s = (now() - t0) / 1000;
        rows.push({ target: t.target, op: 'push', run, seconds: s, layersPerS: n / s, mibPerS: mib / s });
        log(`  ${t.target} push ${s.toFixed(2)} s (${(n / s).toFixed(0)} layers/s, ${(mib / s).toFixed(2)} MiB/s)`);
        const out = join(dir, `pull-${run}-${t.target.replace(/\W+/g, '')}`);
        t0 = now();
        await skopeo(ref, `oci:${out}:latest`, { ...(t.creds ? { srcCreds: t.creds } : {}), timeoutMs });
        s = (now() - t0) / 1000;
        const got = blobCount(out);
        if (got < n + 2) throw new Error(`pull from ${t.target}: ${got} blobs in the layout, expected ${n + 2}`);
        rows.push({ target: t.target, op: 'pull', run, seconds: s, layersPerS: n / s, mibPerS: mib / s });
        log(`  ${t.target} pull ${s.toFixed(2)} s (${(n / s).toFixed(0)} layers/s, ${(mib / s).toFixed(2)} MiB/s)`);
        rmSync(out, { recursive: true, force: true });
        if (t.cleanup) await t.cleanup(repo, tag).catch(() => undefined);
      }
      rmSync(archive, { force: true });
      await exec('sync', [], { allowFailure: true, timeoutMs: 60_000 });
    }
    return { layers: n, layerBytes, archiveBytes, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
