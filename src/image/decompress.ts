/**
 * Opens a layer blob as a stream of uncompressed tar bytes. gzip uses zlib;
 * zstd uses zlib when this Node has it (>= 22.15) and the `zstd` program otherwise.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { HangarError } from '../lib/errors.js';
import type { Compression } from '../oci/media-types.js';

type ZstdFactory = () => NodeJS.ReadWriteStream;

function zlibZstd(): ZstdFactory | undefined {
  const f = (zlib as unknown as Record<string, unknown>)['createZstdDecompress'];
  return typeof f === 'function' ? (f as ZstdFactory) : undefined;
}

/** Uncompressed tar bytes of the blob at `path`. Errors (corrupt data, missing zstd) surface as stream errors. */
export function openDecompressed(path: string, compression: Compression): Readable {
  if (compression === 'none') return createReadStream(path);
  if (compression === 'gzip') {
    // pipeline: an error or early close on either side tears down both (no leaked fd).
    return pipeline(createReadStream(path), zlib.createGunzip(), () => undefined);
  }
  const native = zlibZstd();
  if (native) {
    return pipeline(createReadStream(path), native() as unknown as NodeJS.ReadWriteStream, () => undefined) as unknown as Readable;
  }
  return zstdProcess(path);
}

function zstdProcess(path: string): Readable {
  const out = new PassThrough();
  const child = spawn('zstd', ['-d', '-c', '-q', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr.on('data', (d: Buffer) => err.push(d));
  child.stdout.pipe(out, { end: false });
  let stdoutDone = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let settled = false;
  const finish = (): void => {
    if (settled || !stdoutDone || !exit) return;
    settled = true;
    if (exit.code === 0) out.end();
    else {
      const why = Buffer.concat(err).toString().split(path).join('blob').trim() || `exit ${exit.code ?? exit.signal}`;
      out.destroy(new Error(`zstd: ${why}`));
    }
  };
  child.stdout.on('end', () => {
    stdoutDone = true;
    finish();
  });
  child.on('error', (e) => out.destroy(new HangarError('unavailable', `cannot run zstd to unpack a zstd layer: ${e.message}`, { cause: e })));
  child.on('close', (code, signal) => {
    exit = { code, signal };
    stdoutDone = true;
    finish();
  });
  out.on('close', () => {
    if (exit === undefined) child.kill('SIGKILL');
  });
  return out;
}
