import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import { HangarError } from '../lib/errors.js';
import type { AppEnv } from './context.js';
import { errorEnvelope, nowUs } from './envelope.js';

/** Largest `/v1` request body; every `/v1` body is JSON, far smaller than this. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

type Incoming = IncomingMessage & { hangarGetBody?: Buffer; rawBody?: Buffer };

const hasBody = (req: IncomingMessage): boolean => (req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined);

/** A client gets this long to read the 413 before its connection is cut. */
const REFUSE_GRACE_MS = 2000;

/**
 * 413 without keeping what follows: whatever the client still sends is
 * discarded (never buffered), and the connection is cut after a grace. Not
 * `Connection: close`: node would then close at once, and a client still
 * writing gets a reset that may swallow the 413 before it reads it.
 */
function refuseTooLarge(req: IncomingMessage, res: ServerResponse): void {
  const err = new HangarError('too_large', `body: larger than the ${MAX_BODY_BYTES / 1024 / 1024} MiB allowed`, { field: 'body' });
  const { body, status } = errorEnvelope(err, nowUs());
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body), () => setTimeout(() => req.socket.destroy(), REFUSE_GRACE_MS).unref());
}

const declaredTooLarge = (req: IncomingMessage): boolean => Number(req.headers['content-length'] ?? '0') > MAX_BODY_BYTES;

/**
 * Reads a `/v1` body into memory up to MAX_BODY_BYTES, refusing a larger
 * `Content-Length` before reading anything and stopping a chunked body at the
 * limit, so a flood of large bodies holds at most the limit per request.
 */
function readBounded(req: IncomingMessage, res: ServerResponse, done: (body: Buffer) => void): void {
  if (declaredTooLarge(req)) {
    refuseTooLarge(req, res);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  const onData = (d: Buffer): void => {
    size += d.length;
    if (size > MAX_BODY_BYTES) {
      refused = true;
      req.off('data', onData);
      req.pause();
      chunks.length = 0;
      refuseTooLarge(req, res);
      return;
    }
    chunks.push(d);
  };
  req.on('data', onData);
  req.on('end', () => {
    if (!refused) done(Buffer.concat(chunks));
  });
  req.on('error', () => undefined); // a client that hangs up mid-body: nothing to answer
}

/**
 * Serves a Hono app over node:http. `/v1` bodies are read here, bounded (see
 * readBounded), and handed to Hono as bytes; GET requests may carry a JSON body
 * (go-sdk and kraftkit send filters that way), which fetch's Request cannot
 * hold, so it travels beside the request. `/v2` streams its own bodies (blobs
 * go to disk; manifests are bounded by the registry's limits).
 */
export function serve(app: Hono<AppEnv>, host: string, port: number): Promise<Server> {
  const listener = getRequestListener((req, env) => app.fetch(req, env as AppEnv['Bindings']));
  const handle = (req: Incoming, res: ServerResponse): void => {
    if (!(req.url ?? '').startsWith('/v1/') || !hasBody(req)) {
      void listener(req, res);
      return;
    }
    readBounded(req, res, (body) => {
      if (req.method === 'GET' || req.method === 'HEAD') req.hangarGetBody = body;
      else req.rawBody = body;
      void listener(req, res);
    });
  };
  const server = createServer(handle);
  // `Expect: 100-continue` (curl does it for large bodies): refuse before the client sends anything.
  server.on('checkContinue', (req: Incoming, res: ServerResponse) => {
    if ((req.url ?? '').startsWith('/v1/') && declaredTooLarge(req)) {
      refuseTooLarge(req, res);
      return;
    }
    res.writeContinue();
    handle(req, res);
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
