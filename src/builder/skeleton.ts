/**
 * The skeleton layer: what every image must contain for the runc driver to run
 * it on a shared read-only rootfs (src/runtime/runc/rootfs.ts checks it): the
 * mountpoint directories /dev /proc /sys /tmp /run, and regular files
 * /etc/hosts and /etc/resolv.conf to bind-mount the instance's own over. Plus
 * minimal passwd/group so tools that look up uid 0 find root. Byte for byte the
 * same every time, so it is one shared blob.
 */
import { buildTar, type TarEntrySpec } from '../image/tar-writer.js';

const dir = (path: string, mode = 0o755): TarEntrySpec => ({ path, type: 'dir', mode });
const file = (path: string, data: string, mode = 0o644): TarEntrySpec => ({ path, type: 'file', mode, data: Buffer.from(data) });

export function skeletonLayer(): Buffer {
  return buildTar([
    dir('dev/'),
    dir('etc/'),
    file('etc/group', 'root:x:0:\nnogroup:x:65534:\n'),
    file('etc/hostname', ''),
    file('etc/hosts', '127.0.0.1 localhost\n::1 localhost\n'),
    file('etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n'),
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
    file('etc/resolv.conf', ''),
    dir('proc/', 0o555),
    dir('root/', 0o700),
    dir('run/'),
    dir('sys/', 0o555),
    dir('tmp/', 0o1777),
  ]);
}
