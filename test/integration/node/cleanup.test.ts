import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exec } from '../../../src/lib/exec.js';
import { eventually, REPO, startTestNode, teardown, testConfig } from '../../helpers/node.js';

/** What a node may change on the host, as sorted lines (counters stripped: they move on their own). */
async function hostSnapshot(cgroupParent: string): Promise<Record<string, string[]>> {
  const lines = async (file: string, args: string[]): Promise<string[]> => (await exec(file, args)).stdout.split('\n').filter(Boolean);
  const links = (await lines('ip', ['-o', 'link', 'show'])).map((l) => (l.split(': ')[1] ?? l).split('@')[0]!);
  const netns = (await lines('ip', ['netns', 'list'])).map((l) => l.split(' ')[0]!);
  const rules = async (bin: string): Promise<string[]> =>
    (await lines(bin, ['-t', 'filter', '-S'])).map((l) => l.replace(/ -c \d+ \d+/, ''));
  const cgroups: string[] = [];
  for (const ctrl of readdirSync('/sys/fs/cgroup')) {
    if (existsSync(`/sys/fs/cgroup/${ctrl}${cgroupParent}`)) cgroups.push(`${ctrl}${cgroupParent}`);
  }
  return { links: links.sort(), netns: netns.sort(), iptables: (await rules('iptables')).sort(), ip6tables: (await rules('ip6tables')).sort(), cgroups };
}

test('hangar node cleanup: refuses while instances run, --force leaves the host as before the node first started; a clean stop releases the pool', async () => {
  const config = testConfig({ prewarm: 2 });
  const before = await hostSnapshot(config.cgroupParent);
  const env = {
    ...process.env,
    HANGAR_HOME: config.home,
    HANGAR_BRIDGE: config.network.bridge,
    HANGAR_SUBNET: config.network.subnet,
    HANGAR_NETNS_PREFIX: config.network.netnsPrefix,
    HANGAR_CGROUP_PARENT: config.cgroupParent,
    HANGAR_LOG_LEVEL: 'warn',
  };
  const cleanup = (...extra: string[]) => exec(process.execPath, [join(REPO, 'bin', 'hangar'), 'node', 'cleanup', ...extra], { env, allowFailure: true, timeoutMs: 60_000 });
  const ourNetns = async (): Promise<string[]> =>
    (await exec('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${config.network.netnsPrefix}-`));
  const poolNetns = async (): Promise<string[]> => (await ourNetns()).filter((n) => n.startsWith(`${config.network.netnsPrefix}-pool-`));

  await teardown(config, async () => {
    const n = await startTestNode(config);
    let stopped = false;
    try {
    await eventually(async () => (n.node.network.poolSize === 2 ? true : undefined), 30_000);
    const made = await n.api('POST', '/v1/instances', { name: 'left-running', image: 'hello:latest' });
    assert.equal(made.status, 200, JSON.stringify(made.json));
    assert.equal(made.items[0]!['state'], 'running');
    // The node holds its home: cleanup must not pull things from under it.
    const whileUp = await cleanup();
    assert.notEqual(whileUp.code, 0, 'cleanup refuses while the node runs');
    assert.match(whileUp.stderr, /another node/);
    await n.node.stop();
    stopped = true;

    // The instance took a pool entry (its netns keeps the pool name); the other, unused one is gone.
    const held = JSON.parse(readFileSync(join(config.home, 'net', 'attachments', `${String(made.items[0]!['uuid'])}.json`), 'utf8')) as { netnsName: string };
    assert.deepEqual(await poolNetns(), [held.netnsName].filter((x) => x.includes('-pool-')), 'a clean stop releases the prewarm pool');
    assert.equal((await ourNetns()).length, 1, 'only the running instance keeps a netns');
    const refused = await cleanup();
    assert.notEqual(refused.code, 0, 'cleanup refuses while an instance runs');
    assert.match(refused.stderr, /still run/);
    const runc = await exec('runc', ['--root', join(config.home, 'run', 'runc'), 'list', '-q']);
    assert.ok(runc.stdout.includes(String(made.items[0]!['uuid'])), 'the refused cleanup touched nothing');

    const forced = await cleanup('--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(await hostSnapshot(config.cgroupParent), before, 'the host is as it was before the node first started');
    assert.ok(!existsSync(join(config.home, 'run')), 'runc state removed');
    assert.ok(existsSync(join(config.home, 'state.db')), "the node's data stays");
    } finally {
      if (!stopped) await n.node.stop();
    }
  });
});
