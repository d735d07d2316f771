import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../../src/lib/log.js';
import { DiskRegistry } from '../../../src/registry/store.js';

test('pins live in the registry database; a pins.json of an older node moves in once and goes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-pins-'));
  try {
    const legacy = join(dir, 'pins.json');
    const p1 = { uuid: 'a0000000-0000-5000-8000-000000000001', url: 'app:v1', repo: 'app', digest: `sha256:${'1'.repeat(64)}`, tags: ['v1'], createdAt: '2026-01-01T00:00:00Z', state: 'ready', owner: 'u' };
    writeFileSync(legacy, JSON.stringify({ pins: [p1] }));
    let reg = new DiskRegistry({ root: join(dir, 'images'), logger: silentLogger });
    await reg.init();
    const pins = reg.pinTable<typeof p1>();
    assert.equal(await pins.importJson(legacy, silentLogger), 1);
    assert.equal(existsSync(legacy), false);
    assert.equal(await pins.importJson(legacy, silentLogger), 0, 'nothing to move a second time');
    await pins.put({ ...p1, uuid: 'a0000000-0000-5000-8000-000000000002' });
    reg.close();
    reg = new DiskRegistry({ root: join(dir, 'images'), logger: silentLogger });
    await reg.init();
    const again = reg.pinTable<typeof p1>();
    assert.deepEqual((await again.all()).map((p) => p.uuid), [p1.uuid, 'a0000000-0000-5000-8000-000000000002']);
    await again.remove(p1.uuid);
    assert.deepEqual((await again.all()).map((p) => p.url), ['app:v1']);
    reg.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
