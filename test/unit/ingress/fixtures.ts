import type { Instance, InstanceState } from '../../../src/core/instance.js';
import type { ServiceGroup, ServicePort } from '../../../src/core/services/group.js';

let n = 0;

export const group = (name: string, owner: string, patch: Partial<ServiceGroup> = {}): ServiceGroup => ({
  uuid: `g-${name}`, name, owner, createdAt: '2026-01-01T00:00:00.000Z', persistent: true,
  services: [{ port: 443, destinationPort: 8080, handlers: ['tls', 'http'] }, { port: 80, destinationPort: 8080, handlers: ['http', 'redirect'] }],
  domains: [{ fqdn: `${name}.localhost` }], softLimit: 1, hardLimit: 65535, ...patch,
});

export const web80: ServicePort = { port: 80, destinationPort: 8080, handlers: ['http'] };

export const member = (g: ServiceGroup, ip: string, state: InstanceState = 'running'): Instance => {
  n++;
  return {
    uuid: `i-${n}`, name: `i${n}`, owner: g.owner, createdAt: '2026-01-01T00:00:00.000Z', state, image: 'hello', imageDigest: 'sha256:0',
    memoryMb: 64, vcpus: 1, restartPolicy: 'never', features: [], tags: [], hostname: `i${n}`, deleteLock: false, startCount: 1, restartCount: 0, uptimeMs: 0,
    network: { interfaceUuid: `if-${n}`, ip, mac: '02:00:00:00:00:01' }, serviceGroup: g.uuid,
  };
};
