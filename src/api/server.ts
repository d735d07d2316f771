import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AppEnv } from './context.js';

const MAX_GET_BODY = 1024 * 1024;

/**
 * Serves a Hono app over node:http. GET requests may carry a JSON body (go-sdk
 * and kraftkit send filters that way); fetch's Request cannot hold one, so it
 * is read here and handed to the app beside the request.
 */
export function serve(app: Hono<AppEnv>, host: string, port: number): Promise<Server> {
  const listener = getRequestListener((req, env) => app.fetch(req, env as AppEnv['Bindings']));
  const server = createServer((req: IncomingMessage & { hangarGetBody?: string }, res: ServerResponse) => {
    const hasBody = (req.method === 'GET' || req.method === 'HEAD') && (req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined);
    if (!hasBody) {
      void listener(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_GET_BODY) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(d);
    });
    req.on('end', () => {
      req.hangarGetBody = Buffer.concat(chunks).toString('utf8');
      void listener(req, res);
    });
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
