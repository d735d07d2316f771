/**
 * Reading the host's truth about this driver's objects.
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';

export async function pathExists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** Byte/packet counters of a host veth, as the instance sees them (host rx = instance tx). */
export async function vethCounters(hostVeth: string): Promise<{ rxBytes: number; rxPackets: number; txBytes: number; txPackets: number }> {
  const dir = `/sys/class/net/${hostVeth}/statistics`;
  const read = async (f: string): Promise<number> => Number((await readFile(path.join(dir, f), 'utf8')).trim());
  const [rxBytes, rxPackets, txBytes, txPackets] = await Promise.all([read('tx_bytes'), read('tx_packets'), read('rx_bytes'), read('rx_packets')]);
  return { rxBytes, rxPackets, txBytes, txPackets };
}
