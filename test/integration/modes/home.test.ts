/**
 * Issue 8 point 4: a local user other than the node's cannot read the node's
 * secrets on disk (state.db and its WAL hold every instance's env, the admin
 * token, console logs, leases, registry data), while sandboxes still reach
 * what they need (their rootfs, /etc/hosts, /etc/resolv.conf) and serve.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, httpGet, useTestNode } from '../../helpers/node.js';

const shared = useTestNode();

/** Runs `cmd` as nobody (uid/gid 65534, no supplementary groups). */
const asNobody = (cmd: string[]): { status: number | null; out: string } => {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...cmd], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, out: r.stdout };
};

/** Every regular file under `dir` (relative paths), except inside the trees sandboxes must reach. */
function files(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel))) {
    const child = rel === '' ? name : `${rel}/${name}`;
    // The trees sandboxes are made from: shared rootfs, each sandbox's own root
    // (0700, owned by its range) and ROM mounts; the walk would enter their
    // mounts (a whole sysfs among them). They are checked as folders below.
    if (['images/rootfs', 'net/hosts', 'net/resolv.conf', 'run/roots', 'run/images'].includes(child)) continue;
    const st = lstatSync(join(dir, child));
    if (st.isDirectory()) out.push(...files(dir, child));
    else if (st.isFile()) out.push(child);
  }
  return out;
}

test('another local user reads neither state.db, its WAL, logs nor the token; the app still serves', async () => {
  const secret = `pw-${Date.now()}-hunter2`;
  const r = await shared.n.api('POST', '/v1/instances', { name: 'modes', image: 'hello:latest', autostart: true, env: { DB_PASSWORD: secret } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const inst = r.items[0]!;
  const res = await eventually(async () => httpGet(String(inst['private_ip']), 8080).catch(() => undefined));
  assert.equal(res.status, 200, 'the sandbox still reaches its rootfs, hosts and resolv.conf');
  const home = shared.n.config.home;
  const wal = readFileSync(join(home, 'state.db-wal'));
  assert.ok(wal.includes(secret), 'the WAL holds the env (so reading it would leak it)');

  const mustFail = ['state.db', 'state.db-wal', 'state.db-shm', 'token', `logs/${String(inst['uuid'])}.log`];
  const all = files(home);
  for (const f of mustFail) assert.ok(all.includes(f), `${f} exists`);
  assert.ok(all.length > mustFail.length, 'registry and network files are checked too');
  const readable = all.filter((f) => asNobody(['cat', join(home, f)]).status === 0);
  // The ingress CA's certificate is public on purpose: local users trust it to reach instances over TLS.
  assert.deepEqual(readable, ['ca.pem'], 'files another user can read');
  assert.ok(all.some((f) => f.startsWith('ca/')), 'the CA key folder is among the checked files');
  assert.notEqual(asNobody(['ls', home]).status, 0, 'the home cannot be listed');
  assert.notEqual(asNobody(['ls', join(home, 'run', 'roots')]).status, 0, 'the sandboxes\' roots cannot be listed');
  assert.notEqual(asNobody(['ls', join(home, 'run', 'roots', String(inst['uuid']))]).status, 0, 'nor one sandbox\'s root');
  for (const f of ['state.db', 'state.db-wal', 'state.db-shm', 'token']) {
    assert.equal(lstatSync(join(home, f)).mode & 0o777, 0o600, f);
  }
  assert.equal(lstatSync(join(home, 'logs')).mode & 0o777, 0o700, 'logs/');
  assert.equal(lstatSync(home).mode & 0o777, 0o711, 'the home: search-only for sandboxes');
});
