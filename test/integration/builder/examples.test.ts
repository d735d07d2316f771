/**
 * Each example folder → buildProject → OCI layout → imported into a real node →
 * instance → `GET /` answered from inside the sandbox → instance deleted → the
 * node closes without leaks. Also: the go runtime compiles a Go plugin inside
 * a sandbox, and builds leave no working containers in buildah's storage.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildProject, type BuildResult } from '../../../src/builder/index.js';
import { Buildah } from '../../../src/builder/buildah.js';
import { eventually, httpGet, startTestNode, type TestNode } from '../../helpers/node.js';
import { BUILD_CACHE, EXAMPLES, REPO, isRoot } from './cache.js';

const EXPECT: Record<string, RegExp> = {
  hello: /^Hello from hangar! \(hello\)/,
  'python-http': /^Hello from python-http! \(Python 3\.11\.\d+ on python-http\)/,
  'node-http': /^Hello from node-http! \(Node\.js v20\.\d+\.\d+ on node-http\)/,
  'go-http': /^Hello from go-http! \(go1\.19(\.\d+)? on go-http\)/,
};

describe('examples: build, import, run, answer', { skip: isRoot ? false : 'needs root (buildah, sandboxes)' }, () => {
  let n: TestNode;
  let out: string;
  const built = new Map<string, BuildResult>();

  before(async () => {
    if (!existsSync(join(REPO, 'build', 'bin', 'hello'))) throw new Error('build/bin/hello is missing: run make build/bin/hello');
    out = await mkdtemp(join(tmpdir(), 'hangar-examples-'));
    n = await startTestNode();
  });

  after(async () => {
    try {
      await n?.close();
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  for (const ex of Object.keys(EXPECT)) {
    it(`${ex}: Kraftfile + Dockerfile → image → instance answers GET /`, async () => {
      const phases = new Set<string>();
      const r = await buildProject(join(EXAMPLES, ex), { cacheDir: BUILD_CACHE, outDir: join(out, ex), onProgress: (e) => phases.add(e.phase) });
      built.set(ex, r);
      assert.equal(r.ref, `${ex}:latest`);
      assert.ok(phases.has('dockerfile') && phases.has('done'), [...phases].join(','));
      const [rec] = await n.node.images.import(r.layoutDir, { ref: `examples/${ex}:latest` });
      assert.ok(rec);
      assert.equal(rec.digest, r.manifestDigest, 'the node imports the linux/amd64 manifest');
      const c = await n.api('POST', '/v1/instances', { name: ex, image: `examples/${ex}:latest`, autostart: true, timeout_s: 20, memory_mb: 256 });
      assert.ok(c.status < 300, JSON.stringify(c.json));
      const inst = c.items[0]!;
      assert.equal(inst['state'], 'running', JSON.stringify(inst));
      const ip = String(inst['private_ip']);
      const body = await eventually(async () => {
        const res = await httpGet(ip, 8080, '/', 2000);
        return res.status === 200 ? res.body : undefined;
      }, 20_000, 200);
      assert.match(body, EXPECT[ex]!);
      const d = await n.api('DELETE', `/v1/instances/${String(inst['uuid'])}`);
      assert.ok(d.status < 300, JSON.stringify(d.json));
    });
  }

  it('python-http also carries its rootfs as EROFS in a kraftcloud/x86_64 manifest (format: erofs)', () => {
    const r = built.get('python-http');
    assert.ok(r, 'python-http was built');
    assert.equal(r.rootfs?.format, 'erofs');
    assert.equal(r.rootfs.size % 4096, 0);
    assert.ok(r.indexDigest);
  });

  it('the go runtime builds a Go plugin (cgo, -buildmode=plugin) inside a sandbox', async () => {
    const script = [
      'set -e',
      'mkdir -p /tmp/rom && cd /tmp/rom',
      "printf 'package main\\n\\nfunc Handler() string { return \"hi\" }\\n' > rom.go",
      "printf 'module rommod\\n\\ngo 1.19\\n' > go.mod",
      'go build -buildmode=plugin -o /tmp/rom.so .',
      'ls -l /tmp/rom.so && echo PLUGIN-BUILT',
      'sleep 600',
    ].join('; ');
    const c = await n.api('POST', '/v1/instances', { name: 'goplugin', image: 'examples/go-http:latest', args: ['/bin/sh', '-c', script], autostart: true, timeout_s: 20, memory_mb: 512 });
    assert.ok(c.status < 300, JSON.stringify(c.json));
    const log = await eventually(async () => {
      const e = (await n.api('GET', '/v1/instances/log?name=goplugin&offset=0')).items[0];
      const t = Buffer.from(String(e?.['output'] ?? ''), 'base64').toString();
      return /PLUGIN-BUILT|rror/.test(t) ? t : undefined;
    }, 120_000, 500);
    assert.match(log, /PLUGIN-BUILT/, log);
    await n.api('DELETE', '/v1/instances', [{ name: 'goplugin' }]);
  });

  it('builds leave no working containers, temp folders or built images in the build storage', async () => {
    const b = new Buildah(join(BUILD_CACHE, 'buildah'));
    assert.deepEqual(await b.containers(), []);
    const images = await b.images();
    assert.ok(images.every((i) => i.startsWith('localhost/runtimes/')), images.join(', '));
    assert.deepEqual((await readdir(BUILD_CACHE)).filter((f) => f.startsWith('.tmp-')), []);
  });
});
