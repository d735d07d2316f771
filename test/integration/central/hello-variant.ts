/**
 * Variants of the bundled hello image: same layer, a config with one more env
 * variable, so each variant has its own manifest digest (a tag central holds
 * that the node has never seen).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '../../../src/lib/digest.js';
import { extractOciArchive } from '../../../src/image/oci-archive.js';

const blob = (dir: string, digest: string): string => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));

/** Writes an OCI layout of hello with `HELLO_VARIANT=<n>` added to its env; returns the layout dir. */
export async function helloVariant(archive: string, n: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-hello-variant-'));
  await extractOciArchive(archive, dir);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number; annotations?: Record<string, string> }> };
  const top = index.manifests[0]!;
  const manifest = JSON.parse(readFileSync(blob(dir, top.digest), 'utf8')) as { config: { digest: string; size: number } };
  const config = JSON.parse(readFileSync(blob(dir, manifest.config.digest), 'utf8')) as { config: { Env?: string[] } };
  config.config.Env = [...(config.config.Env ?? []), `HELLO_VARIANT=${n}`];
  const configBytes = Buffer.from(JSON.stringify(config));
  manifest.config = { ...manifest.config, digest: sha256(configBytes), size: configBytes.length };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  writeFileSync(blob(dir, manifest.config.digest), configBytes);
  writeFileSync(blob(dir, sha256(manifestBytes)), manifestBytes);
  index.manifests = [{ ...top, digest: sha256(manifestBytes), size: manifestBytes.length, annotations: { 'org.opencontainers.image.ref.name': n } }];
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  return dir;
}
