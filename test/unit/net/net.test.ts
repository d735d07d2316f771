import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import {
  checkHostname,
  checkId,
  hostsText,
  inSubnet,
  netnsNameForId,
  ownNetnsSuffix,
  parseCidr,
  resolveConfig,
  resolvConfText,
} from '../../../src/net/config.js';
import { bridgeConfig, parseCniResult } from '../../../src/net/cni.js';
import { DnsRegistry, DnsServer, normalizeName } from '../../../src/net/dns.js';
import { firewallPlan } from '../../../src/net/firewall.js';
import { tenancyRules, userChain } from '../../../src/net/tenancy.js';
import { KeyedMutex } from '../../../src/lib/mutex.js';

const query = (name: string, type: dnsPacket.RecordType = 'A', id = 42): Buffer =>
  dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });

describe('net config', () => {
  it('derives every host-global name from the options', () => {
    const a = resolveConfig({ stateDir: '/tmp/x', bridge: 'br1', subnet: '10.201.7.9/24', netnsPrefix: 'hx' });
    assert.equal(a.subnet, '10.201.7.0/24');
    assert.equal(a.gateway, '10.201.7.1');
    assert.equal(a.prefixLength, 24);
    assert.equal(a.inputChain, 'HANGAR-IN-br1');
    assert.equal(a.forwardChain, 'HANGAR-FWD-br1');
    assert.equal(a.networkName, 'hangar-br1');
    assert.ok(a.forwardChain.length <= 28);
    const d = resolveConfig({ stateDir: '/tmp/y' });
    assert.equal(d.bridge, 'hangar0');
    assert.equal(d.gateway, '10.88.0.1');
    assert.equal(d.netnsPrefix, 'hangar');
    assert.equal(d.cniPath, '/usr/lib/cni');
    const long = resolveConfig({ stateDir: '/t', bridge: 'abcdefghijklmno' });
    assert.ok(long.forwardChain.length <= 28, 'iptables chain names are at most 28 chars');
  });

  it('rejects bad options', () => {
    assert.throws(() => resolveConfig({ stateDir: '/t', bridge: 'abcdefghijklmnop' }), /bridge/);
    assert.throws(() => resolveConfig({ stateDir: '/t', netnsPrefix: 'a-b' }), /netnsPrefix/);
    assert.throws(() => resolveConfig({ stateDir: '/t', subnet: '10.0.0.0/31' }), /subnet/);
    assert.throws(() => resolveConfig({ stateDir: '/t', subnet: '300.0.0.0/24' }), /subnet/);
    assert.throws(() => resolveConfig({ stateDir: '' }), /stateDir/);
  });

  it('names netns after the first 12 chars of the id and recognizes its own', () => {
    const c = resolveConfig({ stateDir: '/t', netnsPrefix: 'hgt' });
    const name = netnsNameForId(c, '0a1b2c3d-4e5f-6789-abcd-ef0123456789');
    assert.equal(name, 'hgt-0a1b2c3d-4e5');
    assert.equal(ownNetnsSuffix(c, name), '0a1b2c3d-4e5');
    assert.equal(ownNetnsSuffix(c, 'hgt2-0a1b2c3d-4e5'), undefined);
    assert.equal(ownNetnsSuffix(c, 'hgt-'), undefined);
    assert.equal(ownNetnsSuffix(c, 'hgt-0123456789abc'), undefined, 'longer suffixes are not ours');
  });

  it('validates ids and hostnames', () => {
    assert.throws(() => checkId('../x'));
    assert.throws(() => checkId(''));
    checkId('0a1b2c3d-4e5f-6789-abcd-ef0123456789');
    assert.throws(() => checkHostname('a b'));
    assert.throws(() => checkHostname('a\nb'));
    checkHostname('my-app.example');
  });

  it('does CIDR math', () => {
    assert.deepEqual(parseCidr('192.168.5.77/16'), { network: '192.168.0.0', prefixLength: 16 });
    assert.ok(inSubnet('10.2.3.4', parseCidr('10.2.0.0/16')));
    assert.ok(!inSubnet('10.3.3.4', parseCidr('10.2.0.0/16')));
  });

  it('renders resolv.conf and hosts', () => {
    const c = resolveConfig({ stateDir: '/t', subnet: '10.250.1.0/24' });
    assert.equal(resolvConfText(c), 'nameserver 10.250.1.1\nsearch internal\noptions ndots:1\n');
    assert.match(hostsText('10.250.1.5', 'web'), /^127\.0\.0\.1\tlocalhost\n/);
    assert.match(hostsText('10.250.1.5', 'web'), /\n10\.250\.1\.5\tweb\n$/);
  });
});

describe('CNI config and result', () => {
  const cfg = resolveConfig({ stateDir: '/s', bridge: 'brx', subnet: '10.220.3.0/24' });
  it('builds a bridge config with no masquerade and no default route', () => {
    const c = bridgeConfig(cfg) as Record<string, any>;
    assert.equal(c['cniVersion'], '1.0.0');
    assert.equal(c['type'], 'bridge');
    assert.equal(c['bridge'], 'brx');
    assert.equal(c['ipMasq'], false);
    assert.equal(c['hairpinMode'], true);
    assert.equal(c['isDefaultGateway'], false);
    assert.equal(c['ipam'].type, 'host-local');
    assert.equal(c['ipam'].dataDir, '/s/ipam');
    assert.deepEqual(c['ipam'].routes, []);
    assert.equal(c['ipam'].ranges[0][0].subnet, '10.220.3.0/24');
  });
  it('parses a result', () => {
    const r = parseCniResult(
      JSON.stringify({
        cniVersion: '1.0.0',
        interfaces: [
          { name: 'brx', mac: '7e:c6:40:77:74:5d' },
          { name: 'veth65c2650b', mac: 'be:13:29:e3:05:58' },
          { name: 'eth0', mac: '4A:76:F0:AF:66:46', sandbox: '/run/netns/x' },
        ],
        ips: [{ interface: 2, address: '10.220.3.2/24', gateway: '10.220.3.1' }],
      }),
      cfg,
    );
    assert.deepEqual(r, { ip: '10.220.3.2', prefixLength: 24, gateway: '10.220.3.1', mac: '4a:76:f0:af:66:46', hostVeth: 'veth65c2650b' });
    assert.throws(() => parseCniResult('nope', cfg));
    assert.throws(() => parseCniResult('{"ips":[]}', cfg));
  });
});

describe('firewall plan', () => {
  it('drops from the bridge to the host except DNS and replies, and keeps traffic on the bridge', () => {
    const cfg = resolveConfig({ stateDir: '/s', bridge: 'brx', subnet: '10.220.3.0/24' });
    const plan = firewallPlan(cfg);
    const in4 = plan.find((p) => p.bin === 'iptables' && p.hook === 'INPUT')!;
    assert.deepEqual(in4.jump.slice(0, 2), ['-i', 'brx']);
    assert.deepEqual(in4.rules.at(-1), ['-j', 'DROP']);
    assert.ok(in4.rules.some((r) => r.join(' ') === '-p udp -d 10.220.3.1/32 --dport 53 -j ACCEPT'));
    assert.ok(in4.rules.some((r) => r.includes('--ctstate')));
    const fwd4 = plan.find((p) => p.bin === 'iptables' && p.hook === 'FORWARD')!;
    assert.deepEqual(fwd4.rules, [['-o', 'brx', '-j', 'HANGAR-TEN-brx'], ['-j', 'DROP']]);
    const in6 = plan.find((p) => p.bin === 'ip6tables' && p.hook === 'INPUT')!;
    assert.deepEqual(in6.rules, [['-j', 'DROP']]);
    const fwd6 = plan.find((p) => p.bin === 'ip6tables' && p.hook === 'FORWARD')!;
    assert.deepEqual(fwd6.rules, [['-j', 'DROP']], 'no IPv6 between instances: it would bypass the per-user rules');
  });
});

describe('per-user networks', () => {
  const cfg = resolveConfig({ stateDir: '/s', bridge: 'brx', subnet: '10.220.3.0/24' });
  it('lets a source reach only destinations of its own user; unknown sources reach nothing', () => {
    const text = tenancyRules(cfg, new Map([['10.220.3.2', 'alice'], ['10.220.3.3', 'bob'], ['10.220.3.4', 'alice']]), ['HGU-brx-deadbeef']);
    const a = userChain(cfg, 'alice');
    const b = userChain(cfg, 'bob');
    assert.notEqual(a, b);
    assert.ok(a.length <= 28 && userChain(resolveConfig({ stateDir: '/s', bridge: 'b'.repeat(15), subnet: '10.1.0.0/16' }), 'x').length <= 28);
    const lines = text.split('\n');
    assert.deepEqual(lines.filter((l) => l.startsWith(':')), [':HANGAR-TEN-brx - [0:0]', ':HGU-brx-deadbeef - [0:0]', `:${a} - [0:0]`, `:${b} - [0:0]`]);
    assert.ok(lines.includes(`-A HANGAR-TEN-brx -s 10.220.3.2/32 -j ${a}`));
    assert.ok(lines.includes(`-A HANGAR-TEN-brx -s 10.220.3.3/32 -j ${b}`));
    assert.deepEqual(lines.filter((l) => l.startsWith(`-A ${a} `)), [`-A ${a} -d 10.220.3.2/32 -j ACCEPT`, `-A ${a} -d 10.220.3.4/32 -j ACCEPT`, `-A ${a} -j DROP`]);
    assert.deepEqual(lines.filter((l) => l.startsWith(`-A ${b} `)), [`-A ${b} -d 10.220.3.3/32 -j ACCEPT`, `-A ${b} -j DROP`]);
    assert.equal(lines.filter((l) => l.startsWith('-A HANGAR-TEN-brx')).at(-1), '-A HANGAR-TEN-brx -j DROP');
  });
  it('DNS answers a name only to its owner\'s instances (and the gateway); others get NXDOMAIN', () => {
    const owners = new Map([['10.9.0.2', 'alice'], ['10.9.0.3', 'bob']]);
    const reg = new DnsRegistry((from, ip) => from === '10.9.0.1' || (owners.has(from) && owners.get(from) === owners.get(ip)));
    reg.set('web', '10.9.0.2');
    const q = dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'web.internal' }] });
    const ask = (from: string) => dnsPacket.decode(reg.answer(q, from)!);
    assert.equal((ask('10.9.0.2').answers?.[0] as { data?: string } | undefined)?.data, '10.9.0.2');
    assert.equal((ask('10.9.0.1').answers?.[0] as { data?: string } | undefined)?.data, '10.9.0.2');
    for (const other of ['10.9.0.3', '10.9.0.99']) {
      const r = ask(other);
      assert.equal((r.flags ?? 0) & 0xf, 3, `${other}: NXDOMAIN`);
      assert.deepEqual(r.answers, []);
    }
  });
});

describe('internal DNS answers', () => {
  const reg = new DnsRegistry();
  reg.set('Web', '10.1.2.3');
  reg.set('api.internal.', '10.1.2.4');

  it('normalizes names', () => {
    assert.equal(normalizeName('Web.Internal.'), 'web');
    assert.equal(normalizeName('x'), 'x');
  });
  it('answers A for known .internal names, case-insensitively, TTL 5', () => {
    const r = dnsPacket.decode(reg.answer(query('WEB.internal'))!);
    assert.equal(r.id, 42);
    assert.equal(r.type, 'response');
    assert.equal((r as any).rcode, 'NOERROR');
    assert.equal(r.flag_aa, true);
    assert.equal(r.flag_rd, true);
    assert.equal(r.answers?.length, 1);
    const a = r.answers![0] as dnsPacket.StringAnswer;
    assert.equal(a.type, 'A');
    assert.equal(a.data, '10.1.2.3');
    assert.equal(a.ttl, 5);
    const r2 = dnsPacket.decode(reg.answer(query('api.internal'))!);
    assert.equal((r2.answers![0] as dnsPacket.StringAnswer).data, '10.1.2.4');
  });
  it('NODATA for other types of known names, NXDOMAIN for unknown, REFUSED elsewhere', () => {
    const aaaa = dnsPacket.decode(reg.answer(query('web.internal', 'AAAA'))!);
    assert.equal((aaaa as any).rcode, 'NOERROR');
    assert.equal(aaaa.answers?.length, 0);
    assert.equal((dnsPacket.decode(reg.answer(query('nope.internal'))!) as any).rcode, 'NXDOMAIN');
    assert.equal((dnsPacket.decode(reg.answer(query('internal'))!) as any).rcode, 'NXDOMAIN');
    assert.equal((dnsPacket.decode(reg.answer(query('example.com'))!) as any).rcode, 'REFUSED');
    assert.equal((dnsPacket.decode(reg.answer(query('web.internal.evil'))!) as any).rcode, 'REFUSED');
  });
  it('removes names', () => {
    const r = new DnsRegistry();
    r.set('a', '10.0.0.2');
    r.remove('A.internal');
    assert.equal((dnsPacket.decode(r.answer(query('a.internal'))!) as any).rcode, 'NXDOMAIN');
  });
  it('survives garbage and ignores responses', () => {
    assert.equal(reg.answer(Buffer.from([1, 2, 3])), undefined);
    const bad = Buffer.alloc(20, 0xff);
    bad.writeUInt16BE(0x0100, 2); // a query header followed by junk
    const r = reg.answer(bad);
    assert.ok(r);
    assert.equal((dnsPacket.decode(r) as any).rcode, 'FORMERR');
    const resp = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'web.internal' }] });
    assert.equal(reg.answer(resp), undefined);
  });
  it('rejects bad registrations', () => {
    assert.throws(() => reg.set('bad name', '10.0.0.1'));
    assert.throws(() => reg.set('ok', 'not-an-ip'));
  });
});

describe('internal DNS server on loopback', () => {
  const reg = new DnsRegistry();
  const server = new DnsServer(reg);
  after(() => server.stop());

  it('answers over UDP and TCP', async () => {
    await server.start('127.0.0.1', 0);
    reg.set('db', '10.9.9.9');
    const sock = dgram.createSocket('udp4');
    try {
      const udpAnswer = await new Promise<Buffer>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('udp timeout')), 2000);
        sock.once('message', (m) => {
          clearTimeout(t);
          resolve(m);
        });
        sock.send(query('db.internal', 'A', 7), server.port!, '127.0.0.1');
      });
      const r = dnsPacket.decode(udpAnswer);
      assert.equal(r.id, 7);
      assert.equal((r.answers![0] as dnsPacket.StringAnswer).data, '10.9.9.9');
    } finally {
      sock.close();
    }
    const tcpAnswer = await new Promise<Buffer>((resolve, reject) => {
      const c = net.connect({ host: '127.0.0.1', port: server.tcpPort! });
      const t = setTimeout(() => {
        c.destroy();
        reject(new Error('tcp timeout'));
      }, 2000);
      let buf = Buffer.alloc(0);
      c.on('error', reject);
      c.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(t);
          c.destroy();
          resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        }
      });
      const q = query('db.internal', 'A', 8);
      const head = Buffer.alloc(2);
      head.writeUInt16BE(q.length);
      c.write(Buffer.concat([head, q]));
    });
    const r = dnsPacket.decode(tcpAnswer);
    assert.equal(r.id, 8);
    assert.equal((r.answers![0] as dnsPacket.StringAnswer).data, '10.9.9.9');
  });
});

describe('KeyedMutex', () => {
  it('serializes per key and survives rejections', async () => {
    const m = new KeyedMutex();
    const order: string[] = [];
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const a = m.run('k', async () => {
      await sleep(20);
      order.push('a');
      throw new Error('boom');
    });
    const b = m.run('k', async () => {
      order.push('b');
      return 2;
    });
    const c = m.run('other', async () => {
      order.push('c');
    });
    await assert.rejects(a);
    assert.equal(await b, 2);
    await c;
    assert.deepEqual(order, ['c', 'a', 'b']);
  });
});

describe('subnet overlap check', () => {
  it('flags connected subnets of other interfaces that overlap ours', async () => {
    const { conflictingRoutes } = await import('../../../src/net/bridge.js');
    const routes = [
      'default via 192.0.2.1 dev eth0',
      '192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2',
      '10.88.0.0/16 dev cni-podman0 proto kernel scope link src 10.88.0.1',
      '10.201.5.0/24 dev hangar0 proto kernel scope link src 10.201.5.1',
      '10.0.0.0/8 via 192.0.2.9 dev eth0',
    ].join('\n');
    assert.deepEqual(conflictingRoutes(routes, { bridge: 'hangar0', subnet: '10.201.5.0/24' }), []);
    assert.equal(conflictingRoutes(routes, { bridge: 'hangar0', subnet: '10.88.3.0/24' }).length, 1);
    assert.equal(conflictingRoutes(routes, { bridge: 'other0', subnet: '10.201.0.0/16' }).length, 1);
    assert.deepEqual(conflictingRoutes(routes, { bridge: 'x', subnet: '10.99.0.0/16' }), []);
  });
});
