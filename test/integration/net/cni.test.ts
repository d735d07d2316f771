/**
 * CniNetwork against the real kernel: named netns, the Debian CNI bridge and
 * host-local plugins, iptables and the internal DNS server. Needs root.
 *
 * Network rule: traffic only to loopback and to addresses inside namespaces (and
 * the bridge) this test creates; every wait is bounded.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { CniNetwork } from '../../../src/net/driver.js';
import { isHangarError } from '../../../src/lib/errors.js';
import type { NetworkAttachment } from '../../../src/core/ports/network.js';
import { freshNames, linkExists, netnsWithPrefix, sh, teardownNet, type Names } from '../../helpers/net.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (netns, CNI, iptables)';

// ---- helpers -------------------------------------------------------------------------------

const chainExists = async (bin: string, chain: string): Promise<boolean> => (await sh(bin, ['-w', '5', '-S', chain])).code === 0;

async function leaseFiles(stateDir: string, bridge: string): Promise<string[]> {
  const dir = path.join(stateDir, 'ipam', `hangar-${bridge}`);
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
}

const nsName = (a: NetworkAttachment): string => path.basename(a.netnsPath);

/**
 * `wget` from inside a netns, bounded by coreutils `timeout` (busybox wget's own
 * -T crashes in Debian's busybox-static 1.35).
 */
const wgetFrom = (ns: string, url: string) =>
  sh('ip', ['netns', 'exec', ns, 'timeout', '-s', 'KILL', '4', 'busybox', 'wget', '-q', '-O', '-', url], 8000);

/** Opens a TCP connection from inside a netns: 'connected', an errno code such as 'ECONNREFUSED', or 'timeout'. */
const PROBE = `const s=require('net').connect({host:process.argv[1],port:+process.argv[2]});
const t=setTimeout(()=>{console.log('timeout');process.exit(0)},1500);
s.on('connect',()=>{console.log('connected');process.exit(0)});
s.on('error',e=>{console.log(e.code||e.message);process.exit(0)});`;
async function probeFrom(ns: string, host: string, port: number): Promise<string> {
  const r = await sh('ip', ['netns', 'exec', ns, process.execPath, '-e', PROBE, host, String(port)], 8000);
  return r.stdout.trim() || `failed: ${r.stderr.trim()}`;
}

function httpGet(url: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout fetching ${url}`)));
    req.on('error', reject);
  });
}

async function eventually<T>(what: string, fn: () => Promise<T>, tries = 40, delayMs = 100): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
  throw new Error(`${what}: ${(last as Error)?.message ?? last}`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
};

/** One DNS query over TCP to host:53 (the gateway is on the test's own bridge). */
function tcpDnsQuery(host: string, name: string): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port: 53 });
    const t = setTimeout(() => {
      c.destroy();
      reject(new Error('tcp dns timeout'));
    }, 2000);
    let buf = Buffer.alloc(0);
    c.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(t);
        c.destroy();
        resolve(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      }
    });
    const q = dnsPacket.encode({ type: 'query', id: 99, questions: [{ type: 'A', name }] });
    const head = Buffer.alloc(2);
    head.writeUInt16BE(q.length);
    c.write(Buffer.concat([head, q]));
  });
}

// ---- the main scenario -----------------------------------------------------------------------

describe('CniNetwork on a real bridge', { skip }, () => {
  let n: Names;
  let driver: CniNetwork;
  let a: NetworkAttachment;
  let b: NetworkAttachment;
  const idA = `a${randomBytes(6).toString('hex')}-0000-4000-8000-000000000001`;
  const idB = `b${randomBytes(6).toString('hex')}-0000-4000-8000-000000000002`;
  const children: ChildProcess[] = [];
  const servers: http.Server[] = [];
  let webDir = '';
  let hostHits = 0;

  before(async () => {
    n = await freshNames('t');
    driver = new CniNetwork({ stateDir: n.stateDir, bridge: n.bridge, subnet: n.subnet, netnsPrefix: n.prefix });
    await driver.init();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    try {
      await teardownNet(driver, n);
    } finally {
      if (webDir) await rm(webDir, { recursive: true, force: true });
    }
  });

  it('init creates the bridge with the gateway address (no IPv6), the firewall chains and DNS', async () => {
    const gw = driver.config.gateway;
    const addr = (await sh('ip', ['-o', 'addr', 'show', 'dev', n.bridge])).stdout;
    assert.match(addr, new RegExp(`inet ${gw.replace(/\./g, '\\.')}/24 `));
    assert.doesNotMatch(addr, /inet6/);
    assert.ok(await chainExists('iptables', driver.config.inputChain));
    assert.ok(await chainExists('iptables', driver.config.forwardChain));
    assert.ok(await chainExists('ip6tables', driver.config.inputChain));
    const input = (await sh('iptables', ['-w', '5', '-S', 'INPUT'])).stdout;
    assert.match(input, new RegExp(`-i ${n.bridge} .*-j ${driver.config.inputChain}`));
    // A second init is idempotent: same rules, no duplicates.
    await driver.close();
    await driver.init();
    const again = (await sh('iptables', ['-w', '5', '-S', 'INPUT'])).stdout;
    assert.equal(again.split('\n').filter((l) => l.includes(driver.config.inputChain)).length, 1);
    const chain = (await sh('iptables', ['-w', '5', '-S', driver.config.inputChain])).stdout.trim().split('\n');
    assert.equal(chain.length, 5);
    const resolv = await readFile(path.join(n.stateDir, 'resolv.conf'), 'utf8');
    assert.equal(resolv, `nameserver ${gw}\nsearch internal\noptions ndots:1\n`);
  });

  it('attaches two instances with distinct IPs, MACs, netns and veths', async () => {
    [a, b] = await Promise.all([driver.attach(idA, 'alpha'), driver.attach(idB, 'bravo')]);
    const prefix = n.subnet.split('.').slice(0, 3).join('.') + '.';
    for (const x of [a, b]) {
      assert.ok(x.ip.startsWith(prefix), `${x.ip} in ${n.subnet}`);
      assert.equal(x.prefixLength, 24);
      assert.equal(x.gateway, driver.config.gateway);
      assert.match(x.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      assert.ok(existsSync(x.netnsPath), `${x.netnsPath} exists`);
      const eth0 = (await sh('ip', ['-n', nsName(x), '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
      assert.match(eth0, new RegExp(`inet ${x.ip.replace(/\./g, '\\.')}/24`));
      const lo = (await sh('ip', ['-n', nsName(x), 'link', 'show', 'lo'])).stdout;
      assert.match(lo, /UP/);
      const routes = (await sh('ip', ['-n', nsName(x), '-4', 'route'])).stdout.trim().split('\n');
      assert.equal(routes.length, 1, `only the subnet route: ${routes.join(' | ')}`);
      assert.doesNotMatch(routes[0]!, /default/);
      const port = (await sh('ip', ['netns', 'exec', nsName(x), 'sysctl', '-n', 'net.ipv4.ip_unprivileged_port_start'])).stdout.trim();
      assert.equal(port, '0');
    }
    assert.equal(nsName(a), `${n.prefix}-${idA.slice(0, 12)}`);
    assert.notEqual(a.ip, b.ip);
    assert.notEqual(a.mac, b.mac);
    assert.doesNotMatch((await sh('ip', ['-o', 'addr', 'show', 'dev', n.bridge])).stdout, /inet6/, 'the bridge stays IPv4-only');
    const bridgePorts = (await readdir(`/sys/class/net/${n.bridge}/brif`)).filter((p) => p.startsWith('veth'));
    assert.equal(bridgePorts.length, 2);
    assert.equal(await readFile(a.resolvConf, 'utf8'), `nameserver ${driver.config.gateway}\nsearch internal\noptions ndots:1\n`);
    const hosts = await readFile(a.hosts, 'utf8');
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(hosts, new RegExp(`^${a.ip.replace(/\./g, '\\.')}\\talpha$`, 'm'));
    assert.deepEqual((await driver.list()).sort(), [idA, idB].sort());
    assert.equal((await leaseFiles(n.stateDir, n.bridge)).length, 2);
  });

  it('attach is idempotent', async () => {
    assert.deepEqual(await driver.attach(idA, 'alpha'), a);
  });

  it('an unprivileged server binds port 80 in the netns; the host and instance B reach it', async () => {
    webDir = await mkdtemp(path.join(os.tmpdir(), 'hangar-net-web-'));
    await chmod(webDir, 0o755);
    await writeFile(path.join(webDir, 'index.html'), 'hello from A\n');
    await chmod(path.join(webDir, 'index.html'), 0o644);
    const httpd = spawn(
      'ip',
      ['netns', 'exec', nsName(a), 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'busybox', 'httpd', '-f', '-p', '80', '-h', webDir],
      { stdio: 'ignore' },
    );
    children.push(httpd);
    const body = await eventually('fetch A from the host', () => httpGet(`http://${a.ip}:80/`));
    assert.equal(body, 'hello from A\n');
    const fromB = await wgetFrom(nsName(b), `http://${a.ip}:80/`);
    assert.equal(fromB.code, 0, fromB.stderr);
    assert.equal(fromB.stdout, 'hello from A\n');
  });

  it('counters grow with traffic', async () => {
    const before = await driver.counters(idA);
    for (let i = 0; i < 3; i++) await httpGet(`http://${a.ip}:80/`);
    const after = await driver.counters(idA);
    assert.ok(after.rxBytes > before.rxBytes, 'rx bytes');
    assert.ok(after.rxPackets > before.rxPackets, 'rx packets');
    assert.ok(after.txBytes > before.txBytes, 'tx bytes');
    assert.ok(after.txPackets > before.txPackets, 'tx packets');
    await assert.rejects(driver.counters('nope'), (e) => isHangarError(e) && e.kind === 'not_found');
  });

  it('internal DNS resolves <name>.internal from inside a netns', async () => {
    const gw = driver.config.gateway;
    driver.setName('alpha', a.ip);
    const ok = await sh('ip', ['netns', 'exec', nsName(b), 'busybox', 'nslookup', 'Alpha.internal', gw]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`Address:\\s+${a.ip.replace(/\./g, '\\.')}`));
    // Over TCP too (from the host to the gateway on the test's bridge).
    const tcp = await tcpDnsQuery(gw, 'alpha.internal');
    assert.equal((tcp.answers?.[0] as dnsPacket.StringAnswer | undefined)?.data, a.ip);
    assert.equal((tcp.answers?.[0] as dnsPacket.StringAnswer | undefined)?.ttl, 5);

    driver.removeName('alpha');
    const gone = await sh('ip', ['netns', 'exec', nsName(b), 'busybox', 'nslookup', 'alpha.internal', gw]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stdout + gone.stderr, /NXDOMAIN/);
    assert.doesNotMatch(gone.stdout, new RegExp(a.ip.replace(/\./g, '\\.')));

    const refused = await sh('ip', ['netns', 'exec', nsName(b), 'busybox', 'nslookup', 'example.com', gw]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /REFUSED/);
  });

  it('host services are not reachable from inside a netns', async () => {
    const gw = driver.config.gateway;
    const listen = (host: string) =>
      new Promise<number>((resolve) => {
        const s = http.createServer((_req, res) => {
          hostHits++;
          res.end('host secret\n');
        });
        servers.push(s);
        s.listen(0, host, () => resolve((s.address() as net.AddressInfo).port));
      });
    const anyPort = await listen('0.0.0.0');
    const loPort = await listen('127.0.0.1');
    // Sanity: the host itself reaches its own server, and the probe works from a netns.
    assert.equal(await httpGet(`http://127.0.0.1:${anyPort}/`), 'host secret\n');
    assert.equal(await probeFrom(nsName(b), a.ip, 80), 'connected', 'instance to instance');
    assert.equal(await probeFrom(nsName(b), gw, 53), 'connected', 'DNS over TCP on the gateway is allowed');
    hostHits = 0;
    const t0 = Date.now();
    const [viaGw, viaLo, viaLoAny] = await Promise.all([
      probeFrom(nsName(b), gw, anyPort),
      probeFrom(nsName(b), '127.0.0.1', loPort),
      probeFrom(nsName(b), '127.0.0.1', anyPort),
    ]);
    assert.equal(viaGw, 'timeout', 'gateway:port is dropped');
    assert.equal(viaLo, 'ECONNREFUSED', 'the netns loopback is not the host loopback');
    assert.equal(viaLoAny, 'ECONNREFUSED');
    assert.equal(hostHits, 0);
    assert.ok(Date.now() - t0 < 15_000, 'failures are bounded');
  });

  it('survives a restart: records are persisted, orphans are listed and removable', async () => {
    await driver.close();
    driver = new CniNetwork({ stateDir: n.stateDir, bridge: n.bridge, subnet: n.subnet, netnsPrefix: n.prefix });
    await driver.init();
    assert.deepEqual(await driver.attach(idB, 'bravo'), b);
    const orphan = `${n.prefix}-orphan1`;
    await sh('ip', ['netns', 'add', orphan]);
    const ids = await driver.list();
    assert.deepEqual([...ids].sort(), [idA, idB, 'orphan1'].sort());
    await driver.detach('orphan1');
    assert.ok(!existsSync(`/run/netns/${orphan}`));
  });

  it('ids sharing their first 12 characters get separate netns', async () => {
    const x1 = 'collide-inst-1';
    const x2 = 'collide-inst-2';
    const [p, q] = await Promise.all([driver.attach(x1, 'x1'), driver.attach(x2, 'x2')]);
    assert.notEqual(p.netnsPath, q.netnsPath);
    assert.notEqual(p.ip, q.ip);
    await driver.detach(x2);
    assert.ok(existsSync(p.netnsPath), 'detaching x2 leaves x1 alone');
    await driver.detach(x2);
    assert.ok(existsSync(p.netnsPath));
    await driver.detach(x1);
    assert.ok(!existsSync(p.netnsPath));
  });

  it('detach removes netns, veth, lease and files; twice is fine', async () => {
    const vethsBefore = (await readdir(`/sys/class/net/${n.bridge}/brif`)).length;
    await driver.detach(idA);
    await driver.detach(idA);
    assert.ok(!existsSync(a.netnsPath));
    assert.ok(!existsSync(a.hosts));
    assert.equal((await readdir(`/sys/class/net/${n.bridge}/brif`)).length, vethsBefore - 1);
    assert.deepEqual(await driver.list(), [idB]);
    assert.equal((await leaseFiles(n.stateDir, n.bridge)).length, 1);
    // The freed address is usable again and a re-attach works.
    const again = await driver.attach(idA, 'alpha');
    assert.ok(existsSync(again.netnsPath));
    await driver.detach(idA);
  });

  it('prewarm hands out ready attachments and refills', async () => {
    await driver.prewarm(2);
    assert.equal(driver.poolSize, 2);
    const pooled = (await netnsWithPrefix(n.prefix)).filter((x) => x.startsWith(`${n.prefix}-pool-`));
    assert.equal(pooled.length, 2);
    assert.ok(!(await driver.list()).some((id) => id.startsWith('pool-')), 'pool entries are not attachments');
    const idP = 'pooled-instance-1';
    const p = await driver.attach(idP, 'pooled');
    assert.match(path.basename(p.netnsPath), new RegExp(`^${n.prefix}-pool-`));
    assert.match(await readFile(p.hosts, 'utf8'), new RegExp(`${p.ip.replace(/\./g, '\\.')}\\tpooled`));
    assert.deepEqual(await driver.attach(idP, 'pooled'), p);
    assert.ok((await driver.list()).includes(idP));
    // The pooled netns is fully set up: it reaches the DNS server and instance B.
    driver.setName('bravo', b.ip);
    const dns = await sh('ip', ['netns', 'exec', path.basename(p.netnsPath), 'busybox', 'nslookup', 'bravo.internal', driver.config.gateway]);
    assert.match(dns.stdout, new RegExp(`Address:\\s+${b.ip.replace(/\./g, '\\.')}`));
    const ping = await sh('ip', ['netns', 'exec', path.basename(p.netnsPath), 'busybox', 'ping', '-c', '1', '-W', '2', b.ip]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    await eventually('pool refilled', async () => assert.equal(driver.poolSize, 2));
    // A clean stop releases the pool (its netns and leases); attachments stay for the next start.
    await driver.close();
    assert.deepEqual((await netnsWithPrefix(n.prefix)).filter((x) => x.startsWith(`${n.prefix}-pool-`)), [path.basename(p.netnsPath)]);
    const leaseDir = path.join(n.stateDir, 'ipam', `hangar-${n.bridge}`);
    const owners = await Promise.all((await leaseFiles(n.stateDir, n.bridge)).map(async (ip) => (await readFile(path.join(leaseDir, ip), 'utf8')).split('\n')[0]!.trim()));
    assert.deepEqual(owners.filter((o) => o.includes('-pool-')), [path.basename(p.netnsPath)], 'only the attached pool netns keeps a lease');
    driver = new CniNetwork({ stateDir: n.stateDir, bridge: n.bridge, subnet: n.subnet, netnsPrefix: n.prefix });
    await driver.init();
    assert.equal(driver.poolSize, 0);
    assert.deepEqual(await driver.attach(idP, 'pooled'), p);
    await driver.detach(idP);
    assert.ok(!existsSync(p.netnsPath));
  });

  it('destroy removes every netns, veth, the bridge, iptables chains and leases', async () => {
    await driver.destroy();
    assert.deepEqual(await netnsWithPrefix(n.prefix), []);
    assert.ok(!linkExists(n.bridge));
    const veths = (await sh('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout;
    assert.doesNotMatch(veths, new RegExp(`master ${n.bridge}\\b`));
    for (const bin of ['iptables', 'ip6tables']) {
      assert.ok(!(await chainExists(bin, driver.config.inputChain)), `${bin} input chain gone`);
      assert.ok(!(await chainExists(bin, driver.config.forwardChain)), `${bin} forward chain gone`);
      const all = (await sh(bin, ['-w', '5', '-S'])).stdout;
      assert.doesNotMatch(all, new RegExp(`hangar:${n.bridge}\\b`));
    }
    assert.deepEqual(await leaseFiles(n.stateDir, n.bridge), []);
    assert.ok(!existsSync(n.stateDir));
    await driver.destroy(); // idempotent
  });
});

// ---- failure handling ------------------------------------------------------------------------

describe('CniNetwork failures', { skip }, () => {
  let n: Names;
  let driver: CniNetwork;

  before(async () => {
    n = await freshNames('f');
    driver = new CniNetwork({ stateDir: n.stateDir, bridge: n.bridge, subnet: n.subnet, netnsPrefix: n.prefix, cniPath: '/nonexistent/cni' });
    await driver.init();
  });

  after(() => teardownNet(driver, n));

  it('attach with a broken cniPath rejects and leaves nothing behind', async () => {
    await assert.rejects(driver.attach('broken-1', 'broken'), (e) => {
      assert.ok(isHangarError(e));
      assert.match(e.message, /CNI ADD/);
      return true;
    });
    assert.deepEqual(await netnsWithPrefix(n.prefix), []);
    assert.deepEqual(await driver.list(), []);
    assert.deepEqual(await leaseFiles(n.stateDir, n.bridge), []);
    assert.equal((await readdir(`/sys/class/net/${n.bridge}/brif`)).length, 0);
  });

  it('rejects bad ids and hostnames, and attach before init', async () => {
    await assert.rejects(driver.attach('../evil', 'x'), (e) => isHangarError(e) && e.kind === 'invalid_argument');
    await assert.rejects(driver.attach('ok-id', 'bad host'), (e) => isHangarError(e) && e.kind === 'invalid_argument');
    const cold = new CniNetwork({ stateDir: n.stateDir, bridge: n.bridge, subnet: n.subnet, netnsPrefix: n.prefix });
    await assert.rejects(cold.attach('ok-id', 'x'), (e) => isHangarError(e) && e.kind === 'failed_precondition');
  });

  it('a second driver cannot take the same bridge gateway for DNS', async () => {
    const twin = new CniNetwork({ stateDir: `${n.stateDir}-twin`, bridge: n.bridge, subnet: n.subnet, netnsPrefix: `${n.prefix}x` });
    try {
      await assert.rejects(twin.init(), (e) => isHangarError(e) && /DNS/.test(e.message));
    } finally {
      await twin.close();
      await rm(`${n.stateDir}-twin`, { recursive: true, force: true });
    }
  });
});

// ---- latency ---------------------------------------------------------------------------------

describe('CniNetwork latency', { skip }, () => {
  let n: Names;
  let driver: CniNetwork;

  before(async () => {
    n = await freshNames('l');
    driver = new CniNetwork({ stateDir: n.stateDir, bridge: n.bridge, subnet: n.subnet, netnsPrefix: n.prefix });
    await driver.init();
  });

  after(() => teardownNet(driver, n));

  it('measures attach/detach, direct and from the prewarm pool', async (t) => {
    const N = 20;
    const attachMs: number[] = [];
    const detachMs: number[] = [];
    for (let i = 0; i < N; i++) {
      const id = `lat-${i}`;
      let t0 = performance.now();
      await driver.attach(id, `lat${i}`);
      attachMs.push(performance.now() - t0);
      t0 = performance.now();
      await driver.detach(id);
      detachMs.push(performance.now() - t0);
    }
    const pooledMs: number[] = [];
    await driver.prewarm(4);
    for (let i = 0; i < N; i++) {
      // Steady state: the background refill has finished (instance starts are not back to back).
      await eventually('pool full', async () => assert.equal(driver.poolSize, 4), 200, 10);
      const t0 = performance.now();
      await driver.attach(`pool-lat-${i}`, `p${i}`);
      pooledMs.push(performance.now() - t0);
    }
    for (let i = 0; i < N; i++) await driver.detach(`pool-lat-${i}`);
    const fmt = (xs: number[]) => `p50 ${median(xs).toFixed(1)} ms, p90 ${pct(xs, 0.9).toFixed(1)} ms`;
    const line = `attach (direct): ${fmt(attachMs)}; attach (pooled): ${fmt(pooledMs)}; detach: ${fmt(detachMs)}`;
    t.diagnostic(line);
    console.log(`# ${line}`);
    assert.ok(median(pooledMs) < median(attachMs), 'the pool is faster than a direct attach');
  });
});
