/**
 * A readiness probe for sandboxes whose sockets the host kernel cannot see
 * (gVisor's own netstack, a microVM's guest kernel): the first TCP connection
 * the app accepts on the instance's address, made from the host. Drivers whose
 * sockets the host sees use their netns's LISTEN table instead (no connection
 * reaches the app, and it counts from listen(), not from the first accept).
 */
import { connect } from 'node:net';
import type { ProbeTarget, ReadinessProbe } from '../core/ports/runtime.js';

const CONNECT_TIMEOUT_MS = 200;

function accepts(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port, timeout: CONNECT_TIMEOUT_MS });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('timeout', () => done(false));
    s.once('error', () => done(false));
  });
}

export const tcpConnectProbe: ReadinessProbe = {
  async ready(t: ProbeTarget): Promise<boolean> {
    if (t.ip === undefined || t.ports.length === 0) return false;
    const ip = t.ip;
    const results = await Promise.all(t.ports.map((p) => accepts(ip, p)));
    return results.includes(true);
  },
};
