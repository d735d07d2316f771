/**
 * The internal DNS server: answers A queries for `<name>.internal` from names
 * published with set/remove, NXDOMAIN for unknown `.internal` names and REFUSED
 * for everything else (no forwarding). UDP and TCP, bound to one address.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { HangarError } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log.js';

export const INTERNAL_ZONE = 'internal';
export const TTL_SECONDS = 5;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const QR = 0x8000;
const OPCODE_MASK = 0x7800;
const RD = 0x0100;
const AA = 0x0400;

/** `Web.Internal.` → `web`; a bare label stays as is. */
export function normalizeName(name: string): string {
  let n = name.trim().toLowerCase();
  if (n.endsWith('.')) n = n.slice(0, -1);
  if (n.endsWith(`.${INTERNAL_ZONE}`)) n = n.slice(0, -(INTERNAL_ZONE.length + 1));
  return n;
}

/** The name registry and the query → response logic, with no sockets (unit-testable). */
export class DnsRegistry {
  private readonly names = new Map<string, string>();

  /** `visible(from, ip)`: whether a query from `from` may learn a name of `ip` (per-user views); absent = all. */
  constructor(private readonly visible?: (from: string, ip: string) => boolean) {}

  set(name: string, ip: string): void {
    const n = normalizeName(name);
    if (!n || !/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$/.test(n)) throw new HangarError('invalid_argument', `bad DNS name: ${name}`);
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new HangarError('invalid_argument', `bad IPv4 address: ${ip}`);
    this.names.set(n, ip);
  }

  remove(name: string): void {
    this.names.delete(normalizeName(name));
  }

  lookup(name: string): string | undefined {
    return this.names.get(normalizeName(name));
  }

  /** Builds the response to one wire-format query, or undefined to stay silent. */
  answer(query: Buffer, from?: string): Buffer | undefined {
    if (query.length < 12) return undefined;
    const id = query.readUInt16BE(0);
    const qflags = query.readUInt16BE(2);
    if (qflags & QR) return undefined; // a response: never answer those
    const base = (qflags & (OPCODE_MASK | RD)) | QR;
    let q: dnsPacket.DecodedPacket;
    try {
      q = dnsPacket.decode(query);
    } catch {
      return dnsPacket.encode({ type: 'response', id, flags: base | RCODE.FORMERR });
    }
    if ((qflags & OPCODE_MASK) !== 0) return dnsPacket.encode({ type: 'response', id, flags: base | RCODE.NOTIMP });
    const questions = q.questions ?? [];
    const question = questions[0];
    if (questions.length !== 1 || !question) return dnsPacket.encode({ type: 'response', id, flags: base | RCODE.FORMERR });
    const qname = question.name.toLowerCase().replace(/\.$/, '');
    const reply = (flags: number, answers: dnsPacket.Answer[] = []): Buffer =>
      dnsPacket.encode({ type: 'response', id, flags: base | flags, questions: [question], answers });
    if (qname !== INTERNAL_ZONE && !qname.endsWith(`.${INTERNAL_ZONE}`)) return reply(RCODE.REFUSED);
    const qclass = question.class ?? 'IN';
    if (qclass !== 'IN' && qclass !== 'ANY') return reply(RCODE.REFUSED);
    const found = qname === INTERNAL_ZONE ? undefined : this.lookup(qname);
    // Another user's name looks exactly like one that does not exist.
    const ip = found !== undefined && from !== undefined && this.visible && !this.visible(from, found) ? undefined : found;
    if (!ip) return reply(AA | RCODE.NXDOMAIN);
    if (question.type !== 'A' && (question.type as string) !== 'ANY') return reply(AA | RCODE.NOERROR); // NODATA
    return reply(AA | RCODE.NOERROR, [{ type: 'A', class: 'IN', name: question.name, ttl: TTL_SECONDS, data: ip }]);
  }
}

const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 256;
const GATE_MAX_MS = 2_000;

export class DnsServer {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  /**
   * `gate(from)`: a promise to wait for before answering `from` (its per-user rules are still being written), or
   * undefined to answer at once (the usual case: the answer stays synchronous).
   */
  constructor(
    private readonly registry: DnsRegistry,
    private readonly logger: Logger = silentLogger,
    private readonly gate: (from: string) => Promise<void> | undefined = () => undefined,
  ) {}

  get listening(): boolean {
    return this.udp !== undefined;
  }

  /** The bound UDP port (useful when started on port 0). */
  get port(): number | undefined {
    return this.udp?.address().port;
  }

  /** The bound TCP port (differs from the UDP one only when started on port 0). */
  get tcpPort(): number | undefined {
    const a = this.tcp?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  async start(host: string, port = 53): Promise<void> {
    if (this.udp) return;
    const udp = dgram.createSocket({ type: 'udp4' });
    udp.on('message', (msg, rinfo) => {
      const send = (): void => {
        const res = this.safeAnswer(msg, rinfo.address);
        if (res && this.udp === udp) udp.send(res, rinfo.port, rinfo.address);
      };
      const wait = this.waitFor(rinfo.address);
      if (wait) void wait.then(send);
      else send();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: host, port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      udp.close();
      throw new HangarError('unavailable', `internal DNS cannot bind udp ${host}:${port}: ${(e as Error).message}`, { cause: e });
    }
    udp.on('error', (e) => this.logger.warn({ err: e }, 'internal DNS udp error'));

    const tcp = net.createServer((sock) => this.serveTcp(sock));
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host, port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      udp.close();
      throw new HangarError('unavailable', `internal DNS cannot bind tcp ${host}:${port}: ${(e as Error).message}`, { cause: e });
    }
    tcp.on('error', (e) => this.logger.warn({ err: e }, 'internal DNS tcp error'));
    this.udp = udp;
    this.tcp = tcp;
  }

  async stop(): Promise<void> {
    const { udp, tcp } = this;
    this.udp = undefined;
    this.tcp = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  /** The gate for `from`, bounded: a write that hangs must not hold an answer past the client's own timeout. */
  private waitFor(from: string): Promise<void> | undefined {
    const g = this.gate(from.replace(/^::ffff:/, ''));
    if (!g) return undefined;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([g.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, GATE_MAX_MS)))]).finally(() => clearTimeout(timer));
  }

  private safeAnswer(msg: Buffer, from: string): Buffer | undefined {
    try {
      return this.registry.answer(msg, from.replace(/^::ffff:/, ''));
    } catch (e) {
      this.logger.warn({ err: e }, 'internal DNS could not answer a query');
      return undefined;
    }
  }

  /** DNS over TCP: each message is prefixed by its 16-bit length. */
  private serveTcp(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    const wait = this.waitFor(sock.remoteAddress ?? '');
    if (wait) {
      // Rare (a query within milliseconds of the start): hold the socket's data until the gate opens.
      sock.pause();
      void wait.then(() => sock.resume());
    }
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const res = this.safeAnswer(msg, sock.remoteAddress ?? '');
        if (!res) continue;
        const head = Buffer.alloc(2);
        head.writeUInt16BE(res.length);
        sock.write(Buffer.concat([head, res]));
      }
    });
  }
}
