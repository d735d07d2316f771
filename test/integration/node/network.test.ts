import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { eventually, startTestNode, type TestNode } from '../../helpers/node.js';

let n: TestNode;
let hostServer: Server;
let hostPort = 0;
before(async () => {
  n = await startTestNode();
  hostServer = createServer((_q, s) => s.end('host secret'));
  await new Promise<void>((r) => hostServer.listen(0, '0.0.0.0', () => r()));
  hostPort = (hostServer.address() as { port: number }).port;
});
after(async () => {
  hostServer?.close();
  await n?.close();
});

const logText = async (name: string): Promise<string> => {
  const e = (await n.api('GET', `/v1/instances/log?name=${name}&offset=0`)).items[0]!;
  return Buffer.from(String(e['output'] ?? ''), 'base64').toString();
};

test('instances resolve each other as <name>.internal and talk over the bridge', async () => {
  const a = await n.api('POST', '/v1/instances', { name: 'alpha', image: 'hello:latest', timeout_s: 10 });
  const ipA = String(a.items[0]!['private_ip']);
  await n.api('POST', '/v1/instances', {
    name: 'beta',
    image: 'hello:latest',
    args: ['/bin/busybox', 'sh', '-c', 'sleep 0.3; busybox nslookup alpha.internal; busybox timeout 3 busybox wget -q -O - http://alpha.internal:8080/; echo done; sleep 600'],
    timeout_s: 10,
  });
  const text = await eventually(async () => {
    const t = await logText('beta');
    return t.includes('done') ? t : undefined;
  });
  assert.ok(text.includes(ipA), `nslookup should print ${ipA}:\n${text}`);
  assert.match(text, /Hello from hangar! \(alpha\)/);
});

test("instances reach neither the node's API nor other host services", async () => {
  const [a, b, c] = n.config.network.subnet.split('.');
  const gw = `${a}.${b}.${c}.1`;
  const apiPort = new URL(n.url).port;
  await n.api('POST', '/v1/instances', {
    name: 'snoop',
    image: 'hello:latest',
    args: ['/bin/busybox', 'sh', '-c', `GW=${gw}; for p in ${hostPort} ${apiPort}; do for h in $GW 127.0.0.1; do if busybox timeout 2 busybox wget -q -O - http://$h:$p/ >/dev/null 2>&1; then echo "REACHED $h:$p"; else echo "blocked $h:$p"; fi; done; done; echo finished; sleep 600`],
    timeout_s: 10,
  });
  const text = await eventually(async () => {
    const t = await logText('snoop');
    return t.includes('finished') ? t : undefined;
  }, 20_000);
  assert.ok(!text.includes('REACHED'), text);
  assert.equal((text.match(/blocked/g) ?? []).length, 4, text);
});

test('root inside is not root outside: the app runs as a mapped uid on the host', async () => {
  const inst = (await n.api('GET', '/v1/instances?name=alpha')).items[0]!;
  const sb = await n.node.runtime.inspect(String(inst['uuid']));
  assert.ok(sb?.pid);
  const { readFileSync } = await import('node:fs');
  const status = readFileSync(`/proc/${sb.pid}/status`, 'utf8');
  const uid = /^Uid:\s+(\d+)/m.exec(status)![1];
  assert.notEqual(uid, '0');
  assert.ok(Number(uid) >= 100000);
  assert.match(status, /^NoNewPrivs:\s+1/m);
  assert.match(status, /^Seccomp:\s+2/m);
});
