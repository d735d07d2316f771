import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskRegistry } from '../../../src/registry/store.js';

async function* pieces(parts: Buffer[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

test('batched blob writes keep every byte in order, across batch edges, and reads come back whole', async () => {
  const root = mkdtempSync(join(tmpdir(), 'hangar-blobw-'));
  const reg = new DiskRegistry({ root });
  await reg.init();
  try {
    // Sizes around the 1 MiB batch: tiny chunks, one larger than a batch, an odd tail.
    const parts = [...Array.from({ length: 300 }, (_, i) => randomBytes(1 + ((i * 7919) % 20_000))), randomBytes(3 * 1024 * 1024 + 5), randomBytes(17)];
    const all = Buffer.concat(parts);
    const digest = `sha256:${createHash('sha256').update(all).digest('hex')}`;
    const got = await reg.putBlob(pieces(parts), { digest, size: all.length }, { repo: 'r/batched' });
    assert.deepEqual({ digest: got.digest, size: got.size }, { digest, size: all.length });
    const back: Buffer[] = [];
    for await (const c of reg.openBlob(digest)) back.push(c as Buffer);
    assert.ok(Buffer.concat(back).equals(all));
    const range: Buffer[] = [];
    for await (const c of reg.openBlob(digest, { start: 1_500_000, end: 2_600_000 })) range.push(c as Buffer);
    assert.ok(Buffer.concat(range).equals(all.subarray(1_500_000, 2_600_001)));
    // A body longer than announced fails and stores nothing.
    const more = Buffer.concat([all, Buffer.from('x')]);
    const wrong = `sha256:${createHash('sha256').update(more).digest('hex')}`;
    await assert.rejects(reg.putBlob(pieces([...parts, Buffer.from('x')]), { digest: wrong, size: all.length }, { repo: 'r/batched' }));
    assert.equal(await reg.hasBlob(wrong), false);
  } finally {
    reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});
