/**
 * Crash recovery of the network driver against the real kernel: the record of
 * an attachment is rebuilt from the netns itself, and what a kill -9 leaves
 * (temp files, leases of netns that never got recorded) is swept at init.
 *
 * Network rule: no traffic at all; only namespaces and a bridge this test creates.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CniNetwork } from '../../../src/net/driver.js';
import { freshNames, teardownNet, type Names } from '../../helpers/net.js';

let n: Names;
let driver: CniNetwork | undefined;
const make = (): CniNetwork => new CniNetwork({ stateDir: n.stateDir, bridge: n.bridge, subnet: n.subnet, netnsPrefix: n.prefix });

before(async () => {
  n = await freshNames('r');
});
after(async () => {
  await teardownNet(driver, n);
});

test('after a crash: recover() rebuilds an attachment from its netns; init sweeps temp files and orphan leases', async () => {
  driver = make();
  await driver.init();
  const a = await driver.attach('recover-me-1', 'recme');
  const cfg = driver.config;
  // The node died mid-attach: the record never reached 'ready', writes left temp files, CNI leased an IP for a netns never recorded.
  await writeFile(path.join(cfg.attachmentsDir, 'recover-me-1.json'), JSON.stringify({ version: 1, id: 'recover-me-1', status: 'pending', netnsName: path.basename(a.netnsPath), hostname: 'recme' }));
  await writeFile(path.join(cfg.attachmentsDir, 'other.json.1a2b3c4d.tmp'), '{');
  await writeFile(path.join(cfg.hostsDir, 'other.5e6f7a8b.tmp'), '');
  const leaseDir = path.join(cfg.ipamDir, cfg.networkName);
  const orphanIp = n.subnet.replace(/\d+\/\d+$/, '200');
  await writeFile(path.join(leaseDir, orphanIp), `${n.prefix}-deadbeef0000\r\neth0`);
  await driver.close();

  driver = make();
  await driver.init();
  assert.ok(!existsSync(path.join(cfg.attachmentsDir, 'other.json.1a2b3c4d.tmp')), 'attachment temp file swept');
  assert.ok(!existsSync(path.join(cfg.hostsDir, 'other.5e6f7a8b.tmp')), 'hosts temp file swept');
  const leasesLeft = (await readdir(leaseDir)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  assert.deepEqual(leasesLeft, [a.ip], 'the orphan lease is gone, the live one stays');

  const r = await driver.recover('recover-me-1', 'recme');
  assert.deepEqual(r, a, 'the attachment as the kernel has it');
  // The record is 'ready' again, so an idempotent attach returns the same attachment without making a new netns.
  assert.deepEqual(await driver.attach('recover-me-1', 'recme'), a);
  assert.equal(await driver.recover('never-attached', 'nope'), undefined);
  await driver.detach('recover-me-1');
  assert.ok(!existsSync(a.netnsPath));
});
