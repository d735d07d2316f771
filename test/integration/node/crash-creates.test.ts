import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exec } from '../../../src/lib/exec.js';
import { useChildNode } from '../../helpers/child-node.js';
import { apiClient, eventually, httpGet, HELLO_ARCHIVE, REPO, sleep } from '../../helpers/node.js';

const { config, start, kill: killNode } = useChildNode();
const prefix = config.network.netnsPrefix;

const ourNetns = async (): Promise<string[]> =>
  (await exec('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${prefix}-`));
const bridgePorts = (): string[] => {
  try {
    return readdirSync(`/sys/class/net/${config.network.bridge}/brif`);
  } catch {
    return [];
  }
};
const leases = (): string[] => {
  try {
    return readdirSync(join(config.home, 'net', 'ipam', `hangar-${config.network.bridge}`)).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
  } catch {
    return [];
  }
};
function tmpFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...tmpFiles(join(dir, e.name)));
    else if (e.name.endsWith('.tmp')) out.push(join(dir, e.name));
  }
  return out;
}

test('kill -9 during 20 concurrent creates, at several points in time: after a restart every record is truthful and nothing leaked', async () => {
  let node = await start();
  await exec(process.execPath, [`${REPO}/bin/hangar`, 'image', 'import', HELLO_ARCHIVE, '--ref', 'hello:latest'], {
    env: { ...process.env, UKC_METRO: node.url, UKC_TOKEN: node.token },
  });
  // Early (most creates mid-network), middle, late (most running, some not yet recorded so).
  for (const [round, delayMs] of [400, 1300, 2600].entries()) {
    const api = apiClient(node.url, node.token);
    const creates = Array.from({ length: 20 }, (_, i) =>
      api('POST', '/v1/instances', { name: `c${round}-${i}`, image: 'hello:latest' }).catch(() => undefined),
    );
    await sleep(delayMs);
    await killNode('SIGKILL');
    await Promise.all(creates);

    node = await start();
    const api2 = apiClient(node.url, node.token);
    // Reconcile ran before the API answered: nothing is left half-started.
    const list = (await api2('GET', '/v1/instances')).items;
    assert.ok(list.every((i) => i['state'] === 'running' || i['state'] === 'stopped'), `round ${round}: ${JSON.stringify(list.map((i) => [i['name'], i['state']]))}`);
    const running = list.filter((i) => i['state'] === 'running');
    const withNet = list.filter((i) => i['private_ip']);
    for (const inst of running) {
      const ip = inst['private_ip'];
      assert.equal(typeof ip, 'string', `round ${round}: running ${String(inst['name'])} has a private_ip`);
      const nics = inst['network_interfaces'] as Array<Record<string, unknown>>;
      assert.equal(nics.length, 1);
      assert.equal(nics[0]!['private_ip'], ip);
      // The record says what the host has: the app answers on that address.
      assert.equal((await httpGet(String(ip), 8080)).status, 200, `round ${round}: ${String(inst['name'])} serves on ${String(ip)}`);
    }
    // DNS answers each running name, asked from inside one of the instances' netns.
    if (running.length > 0) {
      const att = JSON.parse(readFileSync(join(config.home, 'net', 'attachments', `${String(running[0]!['uuid'])}.json`), 'utf8')) as { netnsName: string };
      const gateway = config.network.subnet.replace(/\d+\/\d+$/, '1');
      for (const inst of running) {
        const q = await exec('ip', ['netns', 'exec', att.netnsName, 'busybox', 'nslookup', `${String(inst['name'])}.internal`, gateway], { allowFailure: true, timeoutMs: 10_000 });
        assert.match(q.stdout, new RegExp(`Address:\\s+${String(inst['private_ip']).replace(/\./g, '\\.')}`), `round ${round}: DNS for ${String(inst['name'])}`);
      }
    }
    // One netns, one bridge port, one lease per recorded network; no temp file anywhere.
    assert.equal((await ourNetns()).length, withNet.length, `round ${round}: netns ${(await ourNetns()).join(',')}`);
    assert.equal(bridgePorts().length, withNet.length, `round ${round}: veths`);
    assert.equal(leases().length, withNet.length, `round ${round}: leases ${leases().join(',')}`);
    assert.deepEqual(tmpFiles(join(config.home, 'net')), [], `round ${round}: temp files`);

    // Next round from a clean slate.
    if (list.length > 0) await api2('DELETE', '/v1/instances', list.map((i) => ({ uuid: i['uuid'] })));
    await eventually(async () => ((await ourNetns()).length === 0 && leases().length === 0 ? true : undefined), 30_000);
  }
});
