/**
 * Tenancy off the create path: a claim changes the owner map at once and the
 * host's rules follow in one coalesced write; releases wait for theirs; the
 * internal DNS answers a source only after its rules landed.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { resolveConfig } from '../../../src/net/config.js';
import { DnsRegistry, DnsServer } from '../../../src/net/dns.js';
import { Tenancy, type TenancyApply } from '../../../src/net/tenancy.js';

const cfg = resolveConfig({ stateDir: '/nonexistent', bridge: 'brt', subnet: '10.230.0.0/24' });

/** An apply that records each map it was given and finishes only when told to. */
function gatedApply(): { apply: TenancyApply; writes: Map<string, string>[]; finish: (err?: Error) => void; started: () => Promise<void> } {
  const writes: Map<string, string>[] = [];
  const waiting: { ok: () => void; fail: (e: Error) => void }[] = [];
  let onStart: (() => void) | undefined;
  const apply: TenancyApply = (owners) => {
    writes.push(new Map(owners));
    onStart?.();
    return new Promise((ok, fail) => waiting.push({ ok: () => ok(new Set()), fail }));
  };
  return {
    apply,
    writes,
    finish: (err) => {
      const w = waiting.shift();
      assert.ok(w, 'a write is in progress');
      if (err) w.fail(err);
      else w.ok();
    },
    started: () => new Promise<void>((r) => (onStart = r)),
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Tenancy', () => {
  it('a claim returns before the rules are written, and the address is settled only once they are', async () => {
    const g = gatedApply();
    const t = new Tenancy(cfg, () => undefined, g.apply);
    const started = g.started();
    const { landed } = t.claim('10.230.0.2', 'alice');
    assert.equal(t.visible('10.230.0.2', '10.230.0.2'), true, 'the map (and DNS view) changes at once');
    await started;
    let settled = false;
    void t.settled('10.230.0.2')!.then(() => (settled = true));
    await tick();
    assert.equal(settled, false, 'not settled while the write runs');
    g.finish();
    await landed;
    await tick();
    assert.equal(settled, true);
    assert.equal(t.settled('10.230.0.2'), undefined);
  });

  it('claims arriving while a write runs share one next write', async () => {
    const g = gatedApply();
    const t = new Tenancy(cfg, () => undefined, g.apply);
    const first = g.started();
    const a = t.claim('10.230.0.2', 'alice').landed;
    await first;
    const b = t.claim('10.230.0.3', 'alice').landed;
    const c = t.claim('10.230.0.4', 'bob').landed;
    const d = t.claim('10.230.0.5', 'bob').landed;
    g.finish();
    await a;
    await tick();
    assert.equal(g.writes.length, 2, 'three claims behind a running write: one more write');
    assert.deepEqual([...g.writes[1]!.keys()].sort(), ['10.230.0.2', '10.230.0.3', '10.230.0.4', '10.230.0.5']);
    g.finish();
    await Promise.all([b, c, d]);
    assert.equal(g.writes.length, 2);
  });

  it('with a claim delay, nothing is written before it ends and claims within it share one write', async () => {
    const g = gatedApply();
    const t = new Tenancy(cfg, () => undefined, g.apply, 30);
    const started = g.started();
    const a = t.claim('10.230.0.2', 'alice').landed;
    const b = t.claim('10.230.0.3', 'bob').landed;
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(g.writes.length, 0, 'no spawn right after the attach');
    assert.notEqual(t.settled('10.230.0.2'), undefined, 'and the address is not settled: its rules are still closed');
    await started;
    assert.equal(g.writes.length, 1);
    assert.deepEqual([...g.writes[0]!.keys()].sort(), ['10.230.0.2', '10.230.0.3']);
    g.finish();
    await Promise.all([a, b]);
  });

  it('a release resolves only after a write without the address', async () => {
    const g = gatedApply();
    const t = new Tenancy(cfg, () => undefined, g.apply);
    const s = g.started();
    const claimed = t.claim('10.230.0.2', 'alice').landed;
    await s;
    g.finish();
    await claimed;
    let released = false;
    const r = t.release('10.230.0.2').then(() => (released = true));
    await tick();
    assert.equal(released, false);
    assert.equal(g.writes.at(-1)!.has('10.230.0.2'), false);
    g.finish();
    await r;
    assert.equal(released, true);
  });

  it('a failed write rejects the claim, reports it and is retried with the whole map', async () => {
    const g = gatedApply();
    const errors: unknown[] = [];
    const t = new Tenancy(cfg, (e) => errors.push(e), g.apply);
    const s = g.started();
    const { landed } = t.claim('10.230.0.2', 'alice');
    await s;
    const retry = g.started();
    const alive = setTimeout(() => undefined, 10_000); // the retry timer is unref'd: keep the loop up for it
    g.finish(new Error('iptables-restore: exit 4'));
    await assert.rejects(landed, /exit 4/);
    await retry; // the retry timer fired and wrote again
    clearTimeout(alive);
    assert.equal(errors.length, 0, 'a claim rejected to its caller is not reported twice');
    assert.equal(g.writes.length, 2);
    assert.equal(g.writes[1]!.get('10.230.0.2'), 'alice');
    g.finish();
    await t.idle();
    t.close();
  });
});

describe('internal DNS gate', () => {
  const reg = new DnsRegistry();
  let open: () => void = () => undefined;
  let gate: Promise<void> | undefined = new Promise<void>((r) => (open = r));
  const server = new DnsServer(reg, undefined, () => gate);
  after(() => server.stop());

  it('answers a gated source only once its gate opens', async () => {
    await server.start('127.0.0.1', 0);
    reg.set('db', '10.9.9.9');
    const sock = dgram.createSocket('udp4');
    try {
      let got: Buffer | undefined;
      const answered = new Promise<Buffer>((resolve) => sock.once('message', (m) => resolve((got = m))));
      sock.send(dnsPacket.encode({ type: 'query', id: 9, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'db.internal' }] }), server.port!, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(got, undefined, 'no answer while the gate is shut');
      open();
      gate = undefined;
      const r = dnsPacket.decode(await answered);
      assert.equal((r.answers![0] as dnsPacket.StringAnswer).data, '10.9.9.9');
    } finally {
      sock.close();
    }
  });
});
