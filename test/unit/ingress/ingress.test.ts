import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type { Instance } from '../../../src/core/instance.js';
import type { ServiceGroup } from '../../../src/core/services/group.js';
import { LocalCa } from '../../../src/ingress/ca.js';
import { Ingress } from '../../../src/ingress/ingress.js';
import { silentLogger } from '../../../src/lib/log.js';
import { group, member, web80 } from './fixtures.js';
import { tempDir } from '../../helpers/temp.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An upstream on loopback that answers with the request's headers, counts connections and echoes WebSocket-style upgrades. */
async function upstream(): Promise<{ server: Server; port: number; connections: () => number; sockets: Set<Socket> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
  });
  server.on('upgrade', (_req, socket: Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n');
    socket.on('data', (d) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : 0, connections: () => connections, sockets };
}

function get(secure: boolean, port: number, host: string, path = '/', opts: { ca?: string; servername?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      { host: '127.0.0.1', port, path, headers: { host }, ...(secure ? { ca: opts.ca, servername: opts.servername ?? host.split(':')[0] } : {}), agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, groups: (port: number) => ServiceGroup[], members: (gs: ServiceGroup[]) => Instance[]) {
  const home = tempDir('hangar-ingress-');
  const up = await upstream();
  const ca = new LocalCa(home);
  await ca.init();
  const gs = groups(up.port);
  const state = { groups: gs, instances: members(gs) };
  const ingress = new Ingress({
    host: '127.0.0.1',
    portMap: new Map([[80, 0], [443, 0]]),
    ca,
    logger: silentLogger,
    routes: { groups: async () => state.groups, instances: async () => state.instances },
  });
  await ingress.start();
  t.after(async () => {
    await ingress.stop();
    // Upgraded sockets are no longer the server's: they are destroyed by hand, or close would wait for them.
    for (const sock of up.sockets) sock.destroy();
    await new Promise<void>((r) => up.server.close(() => r()));
    rmSync(home, { recursive: true, force: true });
  });
  return { ingress, ca, up, state, https: ingress.localPort(443)!, http: ingress.localPort(80)! };
}

const helloOn = (port: number, patch: Partial<ServiceGroup> = {}): ServiceGroup =>
  group('hello', 'alice', { services: [{ port: 443, destinationPort: port, handlers: ['tls', 'http'] }, { port: 80, destinationPort: port, handlers: ['http', 'redirect'] }], ...patch });

test('HTTPS is terminated with a CA-signed certificate and proxied with X-Forwarded-For/-Proto/-Host, over a kept-alive upstream connection', async (t) => {
  const s = await setup(t, (p) => [helloOn(p)], ([g]) => [member(g!, '127.0.0.1')]);
  const host = `hello.localhost:${s.https}`;
  for (let i = 0; i < 3; i++) {
    const r = await get(true, s.https, host, `/x?i=${i}`, { ca: s.ca.caPem });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, `/x?i=${i}`);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-host'], host);
  }
  assert.equal(s.up.connections(), 1, 'three sequential requests share one upstream connection');
});

test('TLS to a name no group holds fails the handshake; a Host other than the SNI gets 421', async (t) => {
  const other = (p: number): ServiceGroup => group('other', 'bob', { services: [{ port: 443, destinationPort: p, handlers: ['tls', 'http'] }] });
  const s = await setup(t, (p) => [helloOn(p), other(p)], ([a, b]) => [member(a!, '127.0.0.1'), member(b!, '127.0.0.1')]);
  await assert.rejects(get(true, s.https, 'nope.localhost', '/', { ca: s.ca.caPem }));
  const r = await get(true, s.https, 'other.localhost', '/', { ca: s.ca.caPem, servername: 'hello.localhost' });
  assert.equal(r.status, 421);
  assert.doesNotMatch(r.body, /headers/);
});

test('port 80: redirect answers 308 to https; an unknown Host gets 404; a plain http group is proxied', async (t) => {
  const s = await setup(t, (p) => [helloOn(p), group('plain', 'bob', { services: [{ ...web80, destinationPort: p }] })], ([a, b]) => [member(a!, '127.0.0.1'), member(b!, '127.0.0.1')]);
  const r = await get(false, s.http, `hello.localhost:${s.http}`, '/a?b=1');
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, 'https://hello.localhost/a?b=1');
  const unknown = await get(false, s.http, 'nope.localhost');
  assert.equal(unknown.status, 404);
  assert.doesNotMatch(unknown.body, /headers/);
  const plain = await get(false, s.http, 'plain.localhost');
  assert.equal(plain.status, 200);
  assert.equal((JSON.parse(plain.body) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http');
});

test('a group with no running instance answers 503; one that starts is routed without waiting for the periodic reload', async (t) => {
  const s = await setup(t, (p) => [helloOn(p)], () => []);
  assert.equal((await get(true, s.https, 'hello.localhost', '/', { ca: s.ca.caPem })).status, 503);
  s.state.instances = [member(s.state.groups[0]!, '127.0.0.1')];
  // The miss reloads the table (no older than its minimum age); a later request sees the new instance.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = (await get(true, s.https, 'hello.localhost', '/', { ca: s.ca.caPem })).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(status, 200);
});

test('an upgrade (WebSocket) is passed through both ways', async (t) => {
  const s = await setup(t, (p) => [helloOn(p)], ([g]) => [member(g!, '127.0.0.1')]);
  const echoed = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: s.https, servername: 'hello.localhost', ca: s.ca.caPem, headers: { host: 'hello.localhost', connection: 'Upgrade', upgrade: 'websocket' }, agent: false });
    req.on('upgrade', (res, socket) => {
      assert.equal(res.statusCode, 101);
      socket.once('data', (d: Buffer) => {
        resolve(d.toString());
        socket.destroy();
      });
      socket.write('ping');
    });
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
  assert.equal(echoed, 'echo:ping');
});

test('stop closes every listener, open connections included', async (t) => {
  const s = await setup(t, (p) => [helloOn(p)], ([g]) => [member(g!, '127.0.0.1')]);
  const idle = connect(s.http, '127.0.0.1');
  await new Promise<void>((r) => idle.once('connect', () => r()));
  const closed = new Promise<void>((r) => idle.once('close', () => r()));
  await s.ingress.stop();
  await closed;
  for (const port of [s.http, s.https]) {
    await assert.rejects(new Promise<void>((resolve, reject) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve();
      });
      c.once('error', reject);
    }), /ECONNREFUSED/);
  }
});
