/**
 * Builds the bundled `hello` OCI image without docker: one uncompressed tar layer with
 * /hello (build/bin/hello), /bin/busybox (Debian's static busybox) and a few applet
 * symlinks (/bin/sh, wget, nslookup, ...), the mount-point directories and minimal
 * /etc files; config Entrypoint ["/hello"], Env ["PATH=/bin"]. Written as an
 * oci-archive tarball with fixed mtimes and owners, so its digest only changes when
 * the binaries do.
 *
 *   node dist/scripts/make-hello-image.js <out.oci.tar> [--hello build/bin/hello] [--busybox /bin/busybox]
 */
import { readFile } from 'node:fs/promises';
import { ANNOTATION_CONTAINERD_NAME } from '../src/oci/media-types.js';
import { buildOciImage, writeOciArchive } from '../src/image/oci-writer.js';
import { buildTar, type TarEntrySpec } from '../src/image/tar-writer.js';

const BUSYBOX_APPLETS = ['cat', 'echo', 'env', 'hostname', 'id', 'ls', 'nslookup', 'ps', 'sh', 'sleep', 'wget'];

function usage(msg: string): never {
  process.stderr.write(`make-hello-image: ${msg}\nusage: make-hello-image <out.oci.tar> [--hello PATH] [--busybox PATH]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { out: string; hello: string; busybox: string } {
  let out: string | undefined;
  let hello = 'build/bin/hello';
  let busybox = '/bin/busybox';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--hello') hello = argv[++i] ?? usage('--hello needs a path');
    else if (a === '--busybox') busybox = argv[++i] ?? usage('--busybox needs a path');
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (out === undefined) out = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!out) usage('missing output path');
  return { out, hello, busybox };
}

function helloLayer(hello: Buffer, busybox: Buffer): Buffer {
  const dir = (path: string, mode = 0o755): TarEntrySpec => ({ path, type: 'dir', mode });
  const file = (path: string, data: Buffer | string, mode = 0o644): TarEntrySpec => ({ path, type: 'file', mode, data: Buffer.from(data) });
  const entries: TarEntrySpec[] = [
    dir('bin/'),
    file('bin/busybox', busybox, 0o755),
    ...BUSYBOX_APPLETS.map((a): TarEntrySpec => ({ path: `bin/${a}`, type: 'symlink', linkpath: 'busybox' })),
    dir('dev/'),
    dir('etc/'),
    file('etc/group', 'root:x:0:\nnobody:x:65534:\n'),
    file('etc/hostname', ''),
    file('etc/hosts', ''),
    file('etc/passwd', 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'),
    file('etc/resolv.conf', ''),
    file('hello', hello, 0o755),
    dir('proc/', 0o555),
    dir('run/'),
    dir('sys/', 0o555),
    dir('tmp/', 0o1777),
  ];
  return buildTar(entries);
}

async function main(): Promise<void> {
  const { out, hello, busybox } = parseArgs(process.argv.slice(2));
  const [helloBin, busyboxBin] = await Promise.all([readFile(hello), readFile(busybox)]);
  const img = buildOciImage({
    layers: [{ blob: helloLayer(helloBin, busyboxBin) }],
    config: {
      Entrypoint: ['/hello'],
      Env: ['PATH=/bin'],
      WorkingDir: '/',
      ExposedPorts: { '8080/tcp': {} },
    },
    created: '2024-01-01T00:00:00Z',
    refName: 'latest',
    indexAnnotations: { [ANNOTATION_CONTAINERD_NAME]: 'hello:latest' },
  });
  await writeOciArchive(img, out);
  const size = [...img.blobs.values()].reduce((n, b) => n + b.length, 0);
  process.stdout.write(`${out}: hello:latest ${img.manifestDigest} (${size} bytes of blobs)\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`make-hello-image: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
