import { readFileSync } from 'node:fs';
import { request } from 'node:http';

/** RSS of a process in MB; NaN once it is gone (so a crash shows instead of throwing). */
export function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return NaN;
  }
}

/**
 * POSTs `mb` MiB of body to `/v1/instances`, with a Content-Length or
 * chunked; resolves with the status once the answer arrives, then stops sending.
 */
export function postLarge(url: string, token: string, mb: number, chunked: boolean): Promise<number> {
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    if (chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = mb * chunk.length;
    let answered = false;
    const req = request(`${url}/v1/instances`, { method: 'POST', headers }, (res) => {
      answered = true;
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    // Writes already queued when the node closes the connection fail with EPIPE: expected, not a client crash.
    req.on('socket', (sock) => sock.on('error', () => undefined));
    let sent = 0;
    const pump = (): void => {
      while (!answered && sent < mb) {
        sent++;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}

/** Samples a process's RSS every `everyMs` until stop(), which resolves with the peak (MB). */
export function sampleRssPeak(pid: number, everyMs = 10): { stop(): Promise<number> } {
  let peak = rssMb(pid);
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      const v = rssMb(pid);
      if (Number.isNaN(v)) break;
      peak = Math.max(peak, v);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      sampling = false;
      await loop;
      return peak;
    },
  };
}
