import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteTable, normalizeHost } from '../../../src/core/services/routes.js';
import { LeastConnections } from '../../../src/ingress/balancer.js';
import { decide, type Decision, type RequestFacts } from '../../../src/ingress/decide.js';
import { group, member, web80 } from './fixtures.js';

const https = (host: string | undefined, url = '/'): RequestFacts => ({ host, publicPort: 443, sni: host?.split(':')[0], secure: true, url });
const http = (host: string | undefined, url = '/', publicPort = 80): RequestFacts => ({ host, publicPort, sni: undefined, secure: false, url });

function proxied(d: Decision): { host: string; port: number; release: () => void } {
  assert.equal(d.kind, 'proxy', `expected a proxy decision, got ${JSON.stringify(d)}`);
  if (d.kind !== 'proxy') throw new Error('unreachable');
  return { ...d.target, release: d.release };
}

test('a domain routes to its own group: host names are matched without case, port or trailing dot', () => {
  const a = group('hello', 'alice');
  const b = group('other', 'bob');
  const t = new RouteTable([a, b], [member(a, '10.0.0.2'), member(b, '10.0.0.9')]);
  const lb = new LeastConnections();
  assert.equal(proxied(decide(t, lb, https('hello.localhost'))).host, '10.0.0.2');
  assert.equal(proxied(decide(t, lb, https('HELLO.localhost.:18443'))).host, '10.0.0.2');
  assert.equal(proxied(decide(t, lb, https('other.localhost'))).host, '10.0.0.9');
  assert.equal(proxied(decide(t, lb, https('other.localhost'))).port, 8080);
  assert.equal(normalizeHost('Hello.Localhost.:443'), 'hello.localhost');
});

test('an unknown name, a port the group does not publish, or no Host never reaches an instance', () => {
  const a = group('hello', 'alice', { services: [{ port: 443, destinationPort: 8080, handlers: ['tls', 'http'] }] });
  const t = new RouteTable([a], [member(a, '10.0.0.2')]);
  const lb = new LeastConnections();
  assert.equal(decide(t, lb, https('nope.localhost')).kind, 'not_found');
  assert.equal(decide(t, lb, http('hello.localhost')).kind, 'not_found', 'port 80 is not published by this group');
  assert.equal(decide(t, lb, http(undefined)).kind, 'bad_request');
  assert.equal(decide(t, lb, https('10.0.0.2')).kind, 'not_found', 'an instance address is not a name');
});

test('a Host other than the TLS connection\'s SNI is refused with 421 (no crossing into another user\'s domain)', () => {
  const a = group('hello', 'alice');
  const b = group('other', 'bob');
  const t = new RouteTable([a, b], [member(a, '10.0.0.2'), member(b, '10.0.0.9')]);
  const d = decide(t, new LeastConnections(), { host: 'other.localhost', publicPort: 443, sni: 'hello.localhost', secure: true, url: '/' });
  assert.equal(d.kind, 'misdirected');
});

test('port 80 with redirect answers a redirect to https on the same host and path; without it, proxies', () => {
  const a = group('hello', 'alice');
  const p = group('plain', 'alice', { services: [web80] });
  const t = new RouteTable([a, p], [member(a, '10.0.0.2'), member(p, '10.0.0.3')]);
  const lb = new LeastConnections();
  assert.deepEqual(decide(t, lb, http('hello.localhost:18000', '/a/b?c=1')), { kind: 'redirect', location: 'https://hello.localhost/a/b?c=1' });
  assert.equal(proxied(decide(t, lb, http('plain.localhost'))).host, '10.0.0.3');
});

test('only running instances with an address take requests; a group with none answers 503', () => {
  const a = group('hello', 'alice');
  const t = new RouteTable([a], [member(a, '10.0.0.2', 'stopped'), member(a, '10.0.0.3', 'starting')]);
  assert.deepEqual(decide(t, new LeastConnections(), https('hello.localhost')), { kind: 'unavailable', why: 'no_instance' });
  const empty = new RouteTable([a], []);
  assert.deepEqual(decide(empty, new LeastConnections(), https('hello.localhost')), { kind: 'unavailable', why: 'no_instance' });
});

test('least connections: the instance with the fewest requests in flight gets the next one; sequential requests spread', () => {
  const a = group('hello', 'alice');
  const t = new RouteTable([a], [member(a, '10.0.0.2'), member(a, '10.0.0.3')]);
  const lb = new LeastConnections();
  // One request held open on the first pick: the next two go to the other instance.
  const held = proxied(decide(t, lb, https('hello.localhost')));
  const second = proxied(decide(t, lb, https('hello.localhost')));
  assert.notEqual(second.host, held.host);
  second.release();
  const third = proxied(decide(t, lb, https('hello.localhost')));
  assert.notEqual(third.host, held.host);
  third.release();
  held.release();
  // Nothing in flight: sequential requests visit both.
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const p = proxied(decide(t, lb, https('hello.localhost')));
    seen.add(p.host);
    p.release();
  }
  assert.deepEqual([...seen].sort(), ['10.0.0.2', '10.0.0.3']);
});

test('hard_limit: an instance at its limit takes no more; all at it → 503; a release makes room again', () => {
  const a = group('hello', 'alice', { hardLimit: 1 });
  const t = new RouteTable([a], [member(a, '10.0.0.2'), member(a, '10.0.0.3')]);
  const lb = new LeastConnections();
  const one = proxied(decide(t, lb, https('hello.localhost')));
  const two = proxied(decide(t, lb, https('hello.localhost')));
  assert.notEqual(one.host, two.host);
  assert.deepEqual(decide(t, lb, https('hello.localhost')), { kind: 'unavailable', why: 'hard_limit' });
  one.release();
  one.release(); // a second release of the same request changes nothing
  assert.equal(proxied(decide(t, lb, https('hello.localhost'))).host, one.host);
  assert.deepEqual(decide(t, lb, https('hello.localhost')), { kind: 'unavailable', why: 'hard_limit' });
});

test('the table lists the published ports and knows the node\'s domains', () => {
  const a = group('hello', 'alice');
  const t = new RouteTable([a, group('x', 'bob', { services: [{ port: 8443, destinationPort: 80, handlers: ['tls'] }] })], []);
  assert.deepEqual([...t.ports.keys()].sort((x, y) => x - y), [80, 443, 8443]);
  assert.equal(t.hasDomain('hello.localhost.'), true);
  assert.equal(t.hasDomain('evil.localhost'), false);
});
