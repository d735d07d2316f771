import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalCa } from '../../../src/ingress/ca.js';

const mode = (p: string): number => statSync(p).mode & 0o777;

test('the local CA is made once (key 0600, ca.pem) and signs leaves for the asked name only', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'hangar-ca-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const ca = new LocalCa(home);
  await ca.init();
  assert.equal(mode(join(home, 'ca', 'root.key')), 0o600);
  const root = new X509Certificate(ca.caPem);
  assert.equal(root.ca, true);
  assert.equal(new X509Certificate(ca.caPem).toString(), new X509Certificate((await import('node:fs')).readFileSync(join(home, 'ca.pem'))).toString());

  const leaf = await ca.leaf('hello.localhost');
  const cert = new X509Certificate(leaf.certPem);
  assert.equal(cert.verify(root.publicKey), true, 'signed by the root');
  assert.equal(cert.checkIssued(root), true);
  assert.equal(cert.checkHost('hello.localhost'), 'hello.localhost');
  assert.equal(cert.checkHost('other.localhost'), undefined);
  assert.equal(cert.ca, false);
  assert.equal(mode(join(home, 'ca', 'leaves', 'hello.localhost.pem')), 0o600);
  assert.equal((await ca.leaf('hello.localhost')).certPem, leaf.certPem, 'cached, not reissued');

  // A restart keeps the root and reuses the leaf from disk.
  const again = new LocalCa(home);
  await again.init();
  assert.equal(again.caPem, ca.caPem);
  assert.equal((await again.leaf('hello.localhost')).certPem, leaf.certPem);
  assert.deepEqual(readdirSync(join(home, 'ca', 'leaves')), ['hello.localhost.pem']);
});

test('a leaf made under another CA is not served: it is reissued under the current one', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'hangar-ca-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const first = new LocalCa(home);
  await first.init();
  const old = await first.leaf('hello.localhost');
  rmSync(join(home, 'ca', 'root.key'));
  const second = new LocalCa(home);
  await second.init();
  assert.notEqual(second.caPem, first.caPem);
  const fresh = await second.leaf('hello.localhost');
  assert.notEqual(fresh.certPem, old.certPem);
  assert.equal(new X509Certificate(fresh.certPem).checkIssued(new X509Certificate(second.caPem)), true);
});
