import { cell, col, outputFormat } from '../output.js';
import { parsePorts, type PortSpec } from '../parse/ports.js';
import { group, verb } from '../spec.js';
import { change, crudVerbs, type Resource } from './resource.js';

const portsOf = (r: Record<string, unknown>): string =>
  Array.isArray(r['services']) ? (r['services'] as PortSpec[]).map((s) => `${s.port}:${s.destination_port}/${(s.handlers ?? []).join('+')}`).join(',') : '';
const domainsOf = (r: Record<string, unknown>): string =>
  Array.isArray(r['domains']) ? (r['domains'] as Array<Record<string, unknown>>).map((d) => cell(d['fqdn'] ?? d['name'])).join(',') : '';

const SERVICES: Resource = {
  noun: 'service',
  plural: 'services',
  path: '/v1/services',
  columns: [
    col('NAME', 'name', { min: 10 }),
    { header: 'PORTS', get: portsOf, min: 12 },
    { header: 'DOMAINS', get: domainsOf, min: 10, cut: 'middle' },
    { header: 'INSTANCES', get: (r) => (Array.isArray(r['instances']) ? String(r['instances'].length) : ''), min: 9 },
    col('UUID', 'uuid', { min: 8 }),
  ],
  fields: (r) => [
    ['name', cell(r['name'])],
    ['uuid', cell(r['uuid'])],
    ['ports', portsOf(r)],
    ['domains', domainsOf(r)],
    ['instances', Array.isArray(r['instances']) ? (r['instances'] as Array<Record<string, unknown>>).map((i) => cell(i['name'])).join(', ') : ''],
  ],
};

const create = verb<{ name?: string; domain: string[]; output: string }>({
  name: 'create',
  summary: 'Create a service group from port specs',
  args: [{ name: 'ports', description: '<public>:<dest>[/<handlers>] specs', required: true, variadic: true }],
  options: [
    { flags: '-n, --name <name>', description: 'service group name' },
    { flags: '-d, --domain <name>', description: 'domain to serve (repeatable)', repeatable: true },
  ],
  output: true,
  examples: ['hangar service create 443:8080/http+tls -n web', 'hangar service create 443:8080 80:443/http+redirect -n web -d example.com.'],
  async run(ctx, a, o) {
    const format = outputFormat(o.output);
    const services = parsePorts(Array.isArray(a['ports']) ? a['ports'] : [], 'service create');
    const body = { ...(o.name ? { name: o.name } : {}), services, ...(o.domain.length ? { domains: o.domain.map((name) => ({ name })) } : {}) };
    await change(ctx, SERVICES, 'service create', format, ['POST', SERVICES.path, body], (r) => `service ${cell(r['name'])} created (${cell(r['uuid'])})`);
  },
});

export const serviceGroup = group({
  name: 'service',
  aliases: ['services', 'svc'],
  summary: 'Manage service groups: published ports and domains (when the node supports them)',
  children: [...crudVerbs(SERVICES), create],
  examples: ['hangar service create 443:8080/http+tls -n web', 'hangar service list'],
});
