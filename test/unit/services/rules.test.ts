import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_HARD_LIMIT, DEFAULT_SOFT_LIMIT, checkDomains, checkGroup, checkLimits, checkService, checkServices, fqdnOf, isFqdn } from '../../../src/core/services/rules.js';
import { HangarError } from '../../../src/lib/errors.js';

/** Asserts fn throws invalid_argument naming `field`. */
function refuses(fn: () => unknown, field: string): void {
  assert.throws(fn, (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument' && e.field === field, `expected a refusal naming ${field}`);
}

test('port 80 needs http and refuses tls; redirect is allowed there', () => {
  assert.deepEqual(checkService({ port: 80, destinationPort: 8080, handlers: ['http', 'redirect'] }, 's').handlers, ['http', 'redirect']);
  refuses(() => checkService({ port: 80, handlers: ['redirect'] }, 'services[0]'), 'services[0].handlers');
  refuses(() => checkService({ port: 80, handlers: ['http', 'tls'] }, 'services[0]'), 'services[0].handlers');
});

test('port 443 needs tls and http, and refuses redirect', () => {
  assert.deepEqual(checkService({ port: 443, handlers: ['tls', 'http'] }, 's').handlers, ['tls', 'http']);
  refuses(() => checkService({ port: 443, handlers: ['tls'] }, 's'), 's.handlers');
  refuses(() => checkService({ port: 443, handlers: ['http'] }, 's'), 's.handlers');
  refuses(() => checkService({ port: 443, handlers: ['tls', 'http', 'redirect'] }, 's'), 's.handlers');
});

test('other ports need tls without http, and no redirect', () => {
  assert.deepEqual(checkService({ port: 5432, handlers: ['tls'] }, 's').handlers, ['tls']);
  refuses(() => checkService({ port: 5432, handlers: ['tls', 'http'] }, 's'), 's.handlers');
  refuses(() => checkService({ port: 5432, handlers: [] }, 's'), 's.handlers');
  refuses(() => checkService({ port: 8443, handlers: ['tls', 'redirect'] }, 's'), 's.handlers');
});

test('unknown or repeated handlers are named by index', () => {
  refuses(() => checkService({ port: 443, handlers: ['tls', 'gzip'] }, 's'), 's.handlers[1]');
  refuses(() => checkService({ port: 443, handlers: ['tls', 'tls', 'http'] }, 's'), 's.handlers[1]');
});

test('handlers default to what the port demands; destination_port defaults to the port', () => {
  assert.deepEqual(checkService({ port: 443 }, 's'), { port: 443, destinationPort: 443, handlers: ['tls', 'http'] });
  assert.deepEqual(checkService({ port: 80, destinationPort: 8080 }, 's'), { port: 80, destinationPort: 8080, handlers: ['http'] });
  assert.deepEqual(checkService({ port: 9000 }, 's').handlers, ['tls']);
});

test('ports and destination ports are 1..65535 integers; only tcp', () => {
  for (const port of [0, 65536, -1, 1.5]) refuses(() => checkService({ port }, 's'), 's.port');
  refuses(() => checkService({ port: 443, destinationPort: 0 }, 's'), 's.destination_port');
  refuses(() => checkService({ port: 443, destinationPort: 70000 }, 's'), 's.destination_port');
  refuses(() => checkService({ port: 443, protocol: 'udp' }, 's'), 's.protocol');
  assert.equal(checkService({ port: 1, handlers: ['tls'] }, 's').port, 1);
  assert.equal(checkService({ port: 65535, handlers: ['tls'] }, 's').port, 65535);
});

test('a group needs a service, and its ports are unique', () => {
  refuses(() => checkServices([]), 'services');
  refuses(() => checkServices([{ port: 443 }, { port: 80 }, { port: 443, destinationPort: 9 }]), 'services[2].port');
  refuses(() => checkServices([], 'service_group.'), 'service_group.services');
  assert.equal(checkServices([{ port: 443 }, { port: 80, handlers: ['http', 'redirect'] }]).length, 2);
});

test('a domain without a trailing dot goes under the node domain; with one it is used as given', () => {
  assert.equal(fqdnOf('web', 'localhost'), 'web.localhost');
  assert.equal(fqdnOf('Web', 'example.org'), 'web.example.org');
  assert.equal(fqdnOf('shop.example.com.', 'localhost'), 'shop.example.com');
  assert.deepEqual(checkDomains([{ name: 'web' }, { name: 'shop.example.com.' }], 'localhost'), [{ fqdn: 'web.localhost' }, { fqdn: 'shop.example.com' }]);
});

test('domain syntax is checked and named by index', () => {
  for (const bad of ['-web', 'we_b', 'a..b.', '.', 'x'.repeat(64), 'web*', '1.2.3.4.', '']) refuses(() => checkDomains([{ name: 'ok' }, { name: bad }], 'localhost'), 'domains[1].name');
  assert.equal(isFqdn('a.b-c.example'), true);
  assert.equal(isFqdn(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`), true);
  assert.equal(isFqdn(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`), false);
});

test('a domain given twice in one group is refused, also when spelled both ways', () => {
  refuses(() => checkDomains([{ name: 'web' }, { name: 'web.localhost.' }], 'localhost'), 'domains[1].name');
});

test('a domain naming a certificate is refused while the node has none', () => {
  refuses(() => checkDomains([{ name: 'web', certificate: { name: 'c' } }], 'localhost'), 'domains[0].certificate');
});

test('limits are positive integers and soft_limit may not exceed hard_limit', () => {
  checkLimits(1, 1);
  checkLimits(5, undefined);
  checkLimits(undefined, 10);
  refuses(() => checkLimits(11, 10), 'soft_limit');
  refuses(() => checkLimits(0, undefined), 'soft_limit');
  refuses(() => checkLimits(undefined, 1.5), 'hard_limit');
  refuses(() => checkLimits(2, 1, 'service_group.'), 'service_group.soft_limit');
});

test('checkGroup checks the name and applies every rule', () => {
  const g = checkGroup({ name: 'web', services: [{ port: 443, destinationPort: 8080 }], domains: [{ name: 'web' }], softLimit: 1, hardLimit: 2 }, 'localhost');
  assert.deepEqual(g, { name: 'web', services: [{ port: 443, destinationPort: 8080, handlers: ['tls', 'http'] }], domains: [{ fqdn: 'web.localhost' }], softLimit: 1, hardLimit: 2 });
  refuses(() => checkGroup({ name: 'Bad Name', services: [{ port: 443 }] }, 'localhost'), 'name');
  // The model requires both limits: unset ones get defaults that keep soft <= hard.
  const d = checkGroup({ services: [{ port: 443 }] }, 'localhost');
  assert.deepEqual([d.softLimit, d.hardLimit], [DEFAULT_SOFT_LIMIT, DEFAULT_HARD_LIMIT]);
  assert.deepEqual(((g) => [g.softLimit, g.hardLimit])(checkGroup({ services: [{ port: 443 }], softLimit: 7 }, 'localhost')), [7, DEFAULT_HARD_LIMIT]);
  assert.deepEqual(((g) => [g.softLimit, g.hardLimit])(checkGroup({ services: [{ port: 443 }], hardLimit: 3 }, 'localhost')), [1, 3]);
  refuses(() => checkGroup({ services: [{ port: 80, handlers: ['tls'] }] }, 'localhost', 'service_group.'), 'service_group.services[0].handlers');
});
