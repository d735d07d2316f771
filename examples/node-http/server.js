// GET / answers with a greeting, the Node.js version and the hostname.
const http = require('node:http');
const os = require('node:os');

const port = Number(process.env.PORT || 8080);
http
  .createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`Hello from node-http! (Node.js ${process.version} on ${os.hostname()})\n`);
  })
  .listen(port, '0.0.0.0', () => console.log(`node-http: listening on :${port}`));
process.on('SIGTERM', () => process.exit(0));
