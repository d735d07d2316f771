import { Agent, createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { createProxyServer } from 'http-proxy-3';
import type { RouteSource, RouteTable } from '../core/services/routes.js';
import type { Logger } from '../lib/log.js';
import { LeastConnections } from './balancer.js';
import type { LocalCa } from './ca.js';
import { decide, type Decision } from './decide.js';
import { RouteCache } from './route-cache.js';

export interface IngressOptions {
  /** Address every listener binds (HANGAR_INGRESS_HOST). */
  host: string;
  /** Public port → local listen port (0 = any free one); a public port not in it is listened on as itself. */
  portMap: ReadonlyMap<number, number>;
  routes: RouteSource;
  ca: LocalCa;
  logger: Logger;
  /** How often the route table is reloaded and listeners follow the published ports. */
  refreshMs?: number;
}

interface Listener {
  server: Server;
  localPort: number;
}

const accepted = new WeakMap<Server, Set<Socket>>();

/** Remembers every socket a server accepts (upgraded ones and TLS handshakes included, which closeAllConnections misses), so a stop can end them all. */
function track(server: Server): Server {
  const sockets = new Set<Socket>();
  accepted.set(server, sockets);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return server;
}

const STATUS_TEXT: Record<Exclude<Decision['kind'], 'proxy' | 'redirect'>, [number, string]> = {
  bad_request: [400, 'Bad Request: no Host header\n'],
  not_found: [404, 'Not Found: no service answers this name on this port\n'],
  misdirected: [421, 'Misdirected Request: the Host is not the name this TLS connection was made for\n'],
  unavailable: [503, 'Service Unavailable\n'],
};

/**
 * The node's HTTP(S) ingress: one listener per public port that a group
 * publishes with `http` (443: TLS terminated with the local CA's
 * certificates, picked by SNI), proxying to the group's instances. It only
 * reads the route table core builds from the records.
 */
export class Ingress {
  private readonly cache: RouteCache;
  private readonly balancer = new LeastConnections();
  private readonly listeners = new Map<number, Listener>();
  /** Ports that failed to bind, logged once until they bind. */
  private readonly failed = new Set<number>();
  private readonly contexts = new Map<string, { ctx: SecureContext; notAfter: number }>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly proxy = createProxyServer({ xfwd: true, agent: this.agent });
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: IngressOptions) {
    this.cache = new RouteCache(o.routes);
    // Errors of upgraded connections and of responses already under way end up here.
    this.proxy.on('error', (err, _req, res) => {
      this.o.logger.debug({ err: String(err) }, 'ingress upstream error');
      if (res && 'writeHead' in res) {
        if (!res.headersSent) this.reply(res, 502, 'Bad Gateway\n');
        else res.destroy();
      } else res?.destroy();
    });
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch((e: unknown) => this.o.logger.warn({ err: String(e) }, 'ingress refresh failed')), this.o.refreshMs ?? 1000);
    this.timer.unref();
  }

  /** Reloads routes and opens/closes listeners to match the published ports. */
  refresh(): Promise<void> {
    this.syncing = this.syncing.then(async () => {
      if (this.stopped) return;
      await this.sync(await this.cache.reload());
    });
    return this.syncing;
  }

  /** The local port a public port is served on, once bound. */
  localPort(publicPort: number): number | undefined {
    return this.listeners.get(publicPort)?.localPort;
  }

  /** Requests in flight to an instance. */
  inFlight(uuid: string): number {
    return this.balancer.count(uuid);
  }

  private async sync(table: RouteTable): Promise<void> {
    const wanted = new Map([...table.ports].filter(([, h]) => h.includes('http')));
    for (const [port, l] of this.listeners) {
      if (!wanted.has(port)) {
        this.listeners.delete(port);
        await closeServer(l.server);
      }
    }
    for (const [port, handlers] of wanted) {
      if (this.listeners.has(port)) continue;
      const server = handlers.includes('tls') ? this.httpsServer(port) : this.httpServer(port);
      try {
        const localPort = await listen(server, this.o.host, this.o.portMap.get(port) ?? port);
        this.listeners.set(port, { server, localPort });
        this.failed.delete(port);
        this.o.logger.info({ port, local: `${this.o.host}:${localPort}` }, 'ingress listening');
      } catch (e) {
        if (!this.failed.has(port)) this.o.logger.warn({ port, err: String(e) }, 'ingress cannot listen; retrying on the next refresh');
        this.failed.add(port);
      }
    }
  }

  private httpServer(publicPort: number): Server {
    const server = track(createHttpServer({ keepAlive: true }));
    server.on('request', (req, res) => void this.onRequest(req, res, publicPort, undefined));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.onUpgrade(req, socket, head, publicPort, undefined));
    server.on('clientError', (_e, socket: Socket) => socket.destroy());
    return server;
  }

  private httpsServer(publicPort: number): Server {
    const server = track(createHttpsServer({
      keepAlive: true,
      SNICallback: (name, cb) => {
        this.contextFor(name).then(
          (ctx) => cb(null, ctx),
          (e: unknown) => cb(e instanceof Error ? e : new Error(String(e))),
        );
      },
    }));
    const sniOf = (req: IncomingMessage): string => (req.socket as TLSSocket).servername || '';
    server.on('request', (req, res) => void this.onRequest(req, res, publicPort, sniOf(req)));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.onUpgrade(req, socket, head, publicPort, sniOf(req)));
    server.on('tlsClientError', (_e, socket) => socket.destroy());
    return server;
  }

  /** A TLS context for one of the node's domains; any other name fails the handshake. */
  private async contextFor(name: string): Promise<SecureContext> {
    const fqdn = name.toLowerCase().replace(/\.$/, '');
    const hit = this.contexts.get(fqdn);
    if (hit && hit.notAfter - Date.now() > 86_400_000) return hit.ctx;
    if (!this.cache.current.hasDomain(fqdn) && !(await this.cache.fresh()).hasDomain(fqdn)) throw new Error(`no service answers ${fqdn}`);
    const leaf = await this.o.ca.leaf(fqdn);
    const ctx = createSecureContext({ cert: leaf.certPem + this.o.ca.caPem, key: leaf.keyPem });
    this.contexts.set(fqdn, { ctx, notAfter: leaf.notAfter.getTime() });
    return ctx;
  }

  /** Decides on the current table; a miss is decided again on a reloaded one (a record may be newer than the table). */
  private async decide(req: IncomingMessage, publicPort: number, sni: string | undefined): Promise<Decision> {
    const facts = { host: req.headers.host, publicPort, sni, secure: sni !== undefined, url: req.url ?? '/' };
    const d = decide(this.cache.current, this.balancer, facts);
    if (d.kind !== 'not_found' && !(d.kind === 'unavailable' && d.why === 'no_instance')) return d;
    return decide(await this.cache.fresh(), this.balancer, facts);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse, publicPort: number, sni: string | undefined): Promise<void> {
    const d = await this.decide(req, publicPort, sni);
    if (d.kind === 'redirect') {
      res.writeHead(308, { location: d.location, 'content-length': '0' });
      res.end();
      return;
    }
    if (d.kind !== 'proxy') {
      const [status, text] = STATUS_TEXT[d.kind];
      this.reply(res, status, text);
      return;
    }
    res.once('close', d.release);
    // Connection is hop-by-hop: a client's `close` must not close the kept-alive upstream connection.
    delete req.headers.connection;
    this.proxy.web(req, res, { target: { host: d.target.host, port: d.target.port, protocol: 'http:' } }, (err) => {
      // A refused connection means the table named an instance that just stopped: the next request uses a fresh one.
      this.o.logger.debug({ err: String(err), target: d.target }, 'ingress upstream failed');
      void this.cache.fresh().catch(() => undefined);
      if (!res.headersSent) this.reply(res, 502, 'Bad Gateway\n');
      else res.destroy();
    });
  }

  private async onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, publicPort: number, sni: string | undefined): Promise<void> {
    const d = await this.decide(req, publicPort, sni);
    if (d.kind !== 'proxy') {
      const [status, text] = d.kind === 'redirect' ? [308, ''] : STATUS_TEXT[d.kind];
      const location = d.kind === 'redirect' ? `location: ${d.location}\r\n` : '';
      socket.end(`HTTP/1.1 ${status} ${status === 308 ? 'Permanent Redirect' : text.split(':')[0]!.trim()}\r\n${location}content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
      return;
    }
    socket.once('close', d.release);
    this.proxy.ws(req, socket, head, { target: { host: d.target.host, port: d.target.port, protocol: 'http:' } }, () => socket.destroy());
  }

  private reply(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** Closes every listener and connection; nothing is left listening. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.syncing.catch(() => undefined);
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => closeServer(l.server)));
    this.proxy.close();
    this.agent.destroy();
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const s of accepted.get(server) ?? []) s.destroy();
  });
}
