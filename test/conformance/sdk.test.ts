/**
 * Conformance: the real, unmodified `@unikraft/cloud` SDK (0.2.0) drives a real
 * hangar node, and every answer is checked against the models the SDK ships.
 *
 * The node is started in-process by the test harness; after that, every request
 * goes through the SDK: the porcelain (`UnikraftCloud`) and the plumbing
 * (`PlatformApi`). A recording `fetch` (an option the SDK offers) keeps a trace
 * of what the SDK put on the wire, so the tests can also check the requests it
 * sent (page size, cursors, bodies) and report them when something fails.
 *
 * Node 20: the SDK declares engines >=22.12 but loads and runs on Node 20.20
 * as is. Passing our own `fetch` also turns off its optional HTTP(S)_PROXY
 * handling (which would need `undici`), so no request can leave loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UnikraftCloud, UnikraftCloudError, type FetchLike } from '@unikraft/cloud';
import { PlatformApi, type models } from '@unikraft/cloud/api/platform';
import { startTestNode, type TestNode } from '../helpers/node.js';

// ---------------------------------------------------------------------------
// Type-level conformance: tsc checks these against the SDK's own models.
// ---------------------------------------------------------------------------

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when `T` is `true`. */
function assertType<T extends true>(): T | undefined {
  return undefined;
}
/** The keys a model declares as required (not `?`). */
type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];

const INSTANCE_STATES = ['stopped', 'starting', 'running', 'draining', 'stopping', 'template', 'standby', 'deleted', 'checkpoint'] as const;
assertType<Equal<(typeof INSTANCE_STATES)[number], models.InstanceState>>();
const RESTART_POLICIES = ['never', 'always', 'on-failure'] as const;
assertType<Equal<(typeof RESTART_POLICIES)[number], models.InstanceRestartPolicy>>();
const INSTANCE_TYPES = ['micro', 'full'] as const;
assertType<Equal<(typeof INSTANCE_TYPES)[number], models.InstanceType>>();
const RESPONSE_STATUSES = ['success', 'error', 'partial_success'] as const;
assertType<Equal<(typeof RESPONSE_STATUSES)[number], models.ResponseStatus>>();
const FEATURES = ['delete-on-stop'] as const;
assertType<Equal<(typeof FEATURES)[number], models.InstanceFeature>>();
const SCALE_TO_ZERO_POLICIES = ['off', 'on', 'idle'] as const;
assertType<Equal<(typeof SCALE_TO_ZERO_POLICIES)[number], models.InstanceScaleToZeroPolicy>>();
const SCHED_PRIORITIES = ['normal', 'medium', 'high', 'admin'] as const;
assertType<Equal<(typeof SCHED_PRIORITIES)[number], models.SchedPriority>>();

// ---------------------------------------------------------------------------
// Runtime conformance: a validator whose field tables are type-checked against
// the models (every model field must be listed, no other; the required list
// must be exactly the model's required keys).
// ---------------------------------------------------------------------------

interface Problem {
  path: string;
  msg: string;
  /** On a path of required fields only (the model's non-optional part). */
  strict: boolean;
}
type Check = (v: unknown, path: string, strict: boolean, out: Problem[]) => void;

const show = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `${typeof v} ${JSON.stringify(v)?.slice(0, 60)}`);
const is = (pred: (v: unknown) => boolean, what: string): Check => (v, path, strict, out) => {
  if (!pred(v)) out.push({ path, msg: `expected ${what}, got ${show(v)}`, strict });
};
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

const str = is((v) => typeof v === 'string', 'a string');
const nonEmpty = is((v) => typeof v === 'string' && v.length > 0, 'a non-empty string');
const uuid = is((v) => typeof v === 'string' && UUID_RE.test(v), 'a lowercase UUID');
const iso = is((v) => typeof v === 'string' && ISO_RE.test(v) && !Number.isNaN(Date.parse(v)), 'an ISO 8601 date-time');
const ipv4 = is((v) => typeof v === 'string' && IPV4_RE.test(v), 'an IPv4 address');
const mac = is((v) => typeof v === 'string' && MAC_RE.test(v), 'a MAC address');
/**
 * The TypeScript models say `number` for every count, size and time; the spec
 * they are generated from says (u)int64, which is what go-sdk decodes them
 * into. A value that is not a number breaks the TS model (strict); a number
 * that is not an integer (or negative where uint64) breaks only the spec, so
 * it is reported by the full check, not the required-field one.
 */
const integer = (min: number | undefined): Check => (v, path, strict, out) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) out.push({ path, msg: `expected a number, got ${show(v)}`, strict });
  else if (!Number.isInteger(v) || (min !== undefined && v < min)) {
    out.push({ path, msg: `expected ${min === undefined ? 'an int64' : 'a uint64'} as the spec declares (go-sdk cannot decode it), got ${v}`, strict: false });
  }
};
const int = integer(undefined);
const nat = integer(0);
const bool = is((v) => typeof v === 'boolean', 'a boolean');
const anyValue: Check = () => undefined;
const oneOf = (vals: readonly string[]): Check => is((v) => typeof v === 'string' && vals.includes(v), `one of ${vals.join('|')}`);
const anObject = is((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object');
const arrayOf = (c: Check): Check => (v, path, strict, out) => {
  if (!Array.isArray(v)) out.push({ path, msg: `expected an array, got ${show(v)}`, strict });
  else v.forEach((x, i) => c(x, `${path}[${i}]`, strict, out));
};
const recordOf = (c: Check): Check => (v, path, strict, out) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) out.push({ path, msg: `expected an object, got ${show(v)}`, strict });
  else for (const [k, x] of Object.entries(v)) c(x, `${path}.${k}`, strict, out);
};

/** Every field of the model `T`, each with its check. */
type Spec<T> = { [K in keyof Required<T>]: Check };
type RequiredList<T, R extends readonly string[]> = Equal<R[number], RequiredKeys<T> & string> extends true ? R : { required: RequiredKeys<T> };

/** A checker for model `T`: `required` must list exactly the model's required keys (tsc enforces it). */
function model<T>() {
  return <const R extends readonly string[]>(required: RequiredList<T, R>, spec: Spec<T>): Check =>
    (v, path, strict, out) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        out.push({ path, msg: `expected an object, got ${show(v)}`, strict });
        return;
      }
      const o = v as Record<string, unknown>;
      for (const [key, check] of Object.entries(spec) as [string, Check][]) {
        const req = (required as readonly string[]).includes(key);
        const p = `${path}.${key}`;
        if (o[key] === undefined) {
          if (req) out.push({ path: p, msg: 'required by the model, missing', strict });
          continue;
        }
        check(o[key], p, strict && req, out);
      }
    };
}

const perItem = { status: oneOf(RESPONSE_STATUSES), message: str, error: int };

const networkInterface = model<models.InstanceNetworkInterface>()(['uuid', 'private_ip', 'mac'], {
  uuid,
  private_ip: ipv4,
  mac,
  name: str,
  tap_name: str,
  autoconfig: bool,
  relay: model<models.InstanceNetworkInterfaceRelay>()(['uuid', 'name', 'relay_dns'], { ...perItem, uuid, name: str, relay_dns: bool }),
});
const autokill = model<models.InstanceAutokill>()([], { time_ms: nat, num_requests: nat });

const instanceCheck = model<models.Instance>()(['uuid', 'name', 'created_at', 'state', 'image', 'memory_mb', 'vcpus', 'restart_policy', 'type'], {
  ...perItem,
  uuid,
  name: nonEmpty,
  created_at: iso,
  state: oneOf(INSTANCE_STATES),
  private_fqdn: nonEmpty,
  image: nonEmpty,
  memory_mb: nat,
  vcpus: nat,
  args: arrayOf(str),
  env: recordOf(str),
  start_count: nat,
  restart_count: nat,
  started_at: iso,
  stopped_at: iso,
  uptime_ms: nat,
  retained_until: iso,
  vmm_start_time_us: nat,
  vmm_load_time_us: nat,
  vmm_ready_time_us: nat,
  boot_time_us: nat,
  net_time_us: nat,
  template_time_us: nat,
  stop_reason: nat,
  exit_code: int,
  stop_code: int,
  restart_policy: oneOf(RESTART_POLICIES),
  scale_to_zero: model<models.InstanceScaleToZero>()([], {
    enabled: bool,
    policy: oneOf(SCALE_TO_ZERO_POLICIES),
    stateful: bool,
    cooldown_time_ms: nat,
    notify_time_ms: nat,
  }),
  service_group: model<models.InstanceServiceGroup>()(['uuid', 'name'], {
    uuid,
    name: str,
    domains: arrayOf(model<models.ServiceGroupInstanceDomain>()(['fqdn'], { fqdn: nonEmpty, certificate: anObject })),
  }),
  services: arrayOf(str),
  volumes: arrayOf(model<models.InstanceVolume>()(['uuid', 'name', 'at', 'readonly'], { uuid, name: str, at: nonEmpty, readonly: bool })),
  network_interfaces: arrayOf(networkInterface),
  tags: arrayOf(str),
  annotations: recordOf(str),
  snapshot: model<models.InstanceSnapshot>()(['uuid'], { uuid }),
  delete_lock: bool,
  features: arrayOf(oneOf(FEATURES)),
  restart: model<models.InstanceRestartAttempt>()(['attempt'], { attempt: nat, next_at: iso }),
  roms: arrayOf(anObject),
  plugins: arrayOf(anObject),
  schedules: arrayOf(anObject),
  autokill,
  updates: arrayOf(model<models.InstancePendingUpdate>()(['prop', 'op', 'value', 'status'], {
    prop: str,
    op: oneOf(['set', 'add', 'del']),
    value: anyValue,
    status: oneOf(['pending', 'failed']),
    error: str,
  })),
  sched_priority: oneOf(SCHED_PRIORITIES),
  template_autokill: model<models.InstanceTemplateAutokill>()([], { time_ms: nat }),
  checkpoint_autokill: model<models.InstanceTemplateAutokill>()([], { time_ms: nat }),
  private_ip: ipv4,
  gateway: ipv4,
  nameserver: ipv4,
  type: oneOf(INSTANCE_TYPES),
  gpus: arrayOf(model<models.InstanceGpu>()(['uuid', 'model'], { uuid, model: str })),
});

const quotasStats = model<models.QuotasStats>()(
  ['instances', 'live_instances', 'live_vcpus', 'live_memory_mb', 'service_groups', 'services', 'volumes', 'total_volume_mb'],
  { instances: nat, live_instances: nat, live_vcpus: nat, live_memory_mb: nat, service_groups: nat, services: nat, volumes: nat, total_volume_mb: nat },
);
const quotasCheck = model<models.Quotas>()(['uuid', 'used', 'hard', 'limits'], {
  ...perItem,
  uuid,
  used: quotasStats,
  hard: quotasStats,
  limits: model<models.QuotasLimits>()(
    ['min_memory_mb', 'max_memory_mb', 'min_volume_mb', 'max_volume_mb', 'min_autoscale_size', 'max_autoscale_size', 'min_vcpus', 'max_vcpus'],
    { min_memory_mb: nat, max_memory_mb: nat, min_volume_mb: nat, max_volume_mb: nat, min_autoscale_size: nat, max_autoscale_size: nat, min_vcpus: nat, max_vcpus: nat },
  ),
});
const startedCheck = model<models.StartInstancesResponseStartedInstance>()(['status', 'uuid', 'name', 'state', 'previous_state'], {
  ...perItem,
  uuid,
  name: str,
  state: oneOf(INSTANCE_STATES),
  previous_state: oneOf(INSTANCE_STATES),
});
const stoppedCheck = model<models.StopInstancesResponseStoppedInstance>()(['uuid', 'name', 'state', 'previous_state'], {
  ...perItem,
  uuid,
  name: str,
  state: oneOf(INSTANCE_STATES),
  previous_state: oneOf(INSTANCE_STATES),
});
const suspendedCheck = model<models.SuspendInstancesResponseSuspendedInstance>()(['uuid', 'name', 'state', 'previous_state'], {
  ...perItem,
  uuid,
  name: str,
  state: oneOf(INSTANCE_STATES),
  previous_state: oneOf(INSTANCE_STATES),
});
const deletedCheck = model<models.DeleteInstancesResponseInstance>()(['status', 'uuid', 'name', 'previous_state'], {
  ...perItem,
  uuid,
  name: str,
  previous_state: oneOf(INSTANCE_STATES),
});
const updatedCheck = model<models.UpdateInstancesResponseUpdatedInstance>()(['status', 'uuid', 'name'], { ...perItem, uuid, name: str, id: str });
const waitedCheck = model<models.WaitInstancesResponseWaitedInstance>()(['uuid', 'name', 'state'], { ...perItem, uuid, name: str, state: oneOf(INSTANCE_STATES) });
const byteRange = { start: nat, end: nat };
const logsCheck = model<models.GetInstancesLogsResponseLoggedInstance>()(['uuid', 'name', 'output', 'available', 'range', 'state'], {
  ...perItem,
  uuid,
  name: str,
  output: is((v) => typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v), 'base64'),
  available: model<models.GetInstancesLogsResponseAvailable>()(['start', 'end'], byteRange),
  range: model<models.GetInstancesLogsResponseRange>()(['start', 'end'], byteRange),
  state: oneOf(INSTANCE_STATES),
});
const metricsCheck = model<models.GetInstancesMetricsResponseInstanceMetrics>()(
  ['uuid', 'name', 'rss_bytes', 'cpu_time_ms', 'boot_time_us', 'net_time_us', 'rx_bytes', 'rx_packets', 'tx_bytes', 'tx_packets', 'nconns', 'nreqs', 'nqueued', 'ntotal'],
  {
    ...perItem,
    uuid,
    name: str,
    rss_bytes: nat,
    cpu_time_ms: nat,
    boot_time_us: nat,
    net_time_us: nat,
    rx_bytes: nat,
    rx_packets: nat,
    tx_bytes: nat,
    tx_packets: nat,
    nconns: nat,
    nreqs: nat,
    nqueued: nat,
    ntotal: nat,
  },
);

function problemsOf(check: Check, v: unknown, what: string): Problem[] {
  const out: Problem[] = [];
  check(v, what, true, out);
  return out;
}
/** Every object a test validated, for the full check at the end. */
const validated: { model: string; what: string; value: unknown; problems: Problem[] }[] = [];
/**
 * Fails on a violation of the model's required part (a required field missing
 * or not of its TS type). Everything else (optional fields present with a type
 * the model does not allow, e.g. null; non-integers where the spec says
 * uint64) is recorded and reported by the full-conformance test.
 */
function conforms(check: Check, v: unknown, what: string, model = what): void {
  const problems = problemsOf(check, v, what);
  validated.push({ model, what, value: v, problems });
  const bad = problems.filter((p) => p.strict);
  assert.deepEqual(bad.map((p) => `${p.path}: ${p.msg}`), [], `${what} does not validate against the SDK model:\n${JSON.stringify(v)}`);
}
/** The instance fields hangar promises on top of the model's required ones. */
function hangarInstance(i: models.Instance, what: string): void {
  conforms(instanceCheck, i, what, 'Instance');
  assert.equal(i.private_fqdn, `${i.name}.internal`, `${what}.private_fqdn`);
  assert.ok(Array.isArray(i.network_interfaces), `${what}.network_interfaces is an array: ${JSON.stringify(i)}`);
  for (const [k, nic] of (i.network_interfaces ?? []).entries()) conforms(networkInterface, nic, `${what}.network_interfaces[${k}]`, 'InstanceNetworkInterface');
}

// ---------------------------------------------------------------------------
// The node, the SDK clients, and the wire trace.
// ---------------------------------------------------------------------------

interface WireCall {
  method: string;
  url: URL;
  body: unknown;
  status: number;
  /** uuids in data.instances of a GET /v1/instances list answer */
  listed?: string[];
}

let n: TestNode;
let ukc: UnikraftCloud;
let api: PlatformApi;
const wire: WireCall[] = [];

const recordingFetch: FetchLike = async (input, init) => {
  const res = await fetch(input, init);
  const call: WireCall = {
    method: init?.method ?? 'GET',
    url: new URL(input),
    body: typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
    status: res.status,
  };
  if (call.method === 'GET' && call.url.pathname === '/v1/instances') {
    const j = (await res.clone().json().catch(() => undefined)) as { data?: { instances?: { uuid?: string }[] } } | undefined;
    call.listed = (j?.data?.instances ?? []).map((i) => String(i.uuid));
  }
  wire.push(call);
  return res;
};
const mark = (): number => wire.length;
const since = (m: number): WireCall[] => wire.slice(m);
const trace = (calls: WireCall[]): string =>
  calls.map((c) => `${c.method} ${c.url.pathname}${c.url.search}${c.body !== undefined ? ` ${JSON.stringify(c.body).slice(0, 200)}` : ''} -> ${c.status}`).join('\n');

const IMAGE = 'hello:latest';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the error a promise rejects with; fails if it resolves. */
async function rejection(p: PromiseLike<unknown>, what: string): Promise<UnikraftCloudError> {
  try {
    const v = await p;
    assert.fail(`${what}: expected a rejection, got ${JSON.stringify(v)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof UnikraftCloudError, `${what}: expected an UnikraftCloudError, got ${String(e)}`);
    return e;
  }
}

/** GET http://ip:port/path into the instance's netns (the node's bridge), bounded. */
async function httpGet(ip: string, port: number, path = '/', timeoutMs = 2000): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${ip}:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}
async function httpEventually(ip: string, totalMs = 10_000): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + totalMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await httpGet(ip, 8080);
    } catch (e) {
      last = e;
      await sleep(100);
    }
  }
  throw new Error(`http://${ip}:8080/ did not answer in ${totalMs} ms: ${String(last)}`);
}

before(async () => {
  n = await startTestNode();
  ukc = new UnikraftCloud({ metro: n.url, token: n.token, fetch: recordingFetch, proxyFromEnv: false });
  api = new PlatformApi({ baseUrl: n.url, token: n.token, fetch: recordingFetch, proxyFromEnv: false });
});

after(async () => {
  await n?.close();
});

// ---------------------------------------------------------------------------
// Auth and quotas
// ---------------------------------------------------------------------------

test('a wrong token is rejected as 401 (porcelain and plumbing)', async () => {
  const bad = new UnikraftCloud({ metro: n.url, token: 'not-a-valid-token', fetch: recordingFetch, proxyFromEnv: false });
  const m = mark();
  const e1 = await rejection(bad.users.quotas(), 'quotas with a wrong token');
  assert.equal(e1.kind, 'http');
  assert.equal(e1.status, 401, `${e1.message}\n${trace(since(m))}`);
  assert.ok(e1.message.length > 0);
  assert.equal(e1.errors?.[0]?.status, 401, 'envelope errors[0].status');

  const e2 = await rejection((async () => { for await (const _ of bad.instances.list()) void _; })(), 'list with a wrong token');
  assert.equal(e2.status, 401);

  const badApi = new PlatformApi({ baseUrl: n.url, token: 'also-wrong', fetch: recordingFetch, proxyFromEnv: false });
  const e3 = await rejection(badApi.instances.createInstance({ body: { image: IMAGE, autostart: false } }), 'create with a wrong token');
  assert.equal(e3.status, 401);
  const body = e3.body as { status?: string; op_time_us?: unknown };
  assert.equal(body.status, 'error', 'the 401 body is the envelope');
  assert.equal(typeof body.op_time_us, 'number');
  // no token at all: the plumbing then sends no authorization header
  const anon = new PlatformApi({ baseUrl: n.url, fetch: recordingFetch, proxyFromEnv: false });
  const e4 = await rejection(anon.instances.getInstances({}), 'list without a token');
  assert.equal(e4.status, 401);
  for (const c of since(m)) assert.equal(c.status, 401, trace([c]));
});

test('users.quotas() and quotasByUuid() answer models.Quotas', async () => {
  const q = await ukc.users.quotas();
  assert.equal(q.length, 1, 'one quota entry for the one (pinned) metro');
  const mine: models.Quotas = q[0]!;
  conforms(quotasCheck, mine, 'quotas[0]', 'Quotas');
  assert.ok(mine.hard.instances >= 256, `hard.instances ${mine.hard.instances} leaves room for the paging test`);
  assert.ok(mine.limits.min_memory_mb <= 128 && mine.limits.max_memory_mb >= 256);
  assert.ok(mine.limits.min_vcpus >= 1 && mine.limits.max_vcpus >= mine.limits.min_vcpus);

  const byUuid = await ukc.users.quotasByUuid(mine.uuid);
  assert.equal(byUuid.length, 1);
  assert.equal(byUuid[0]!.uuid, mine.uuid);
  assert.deepEqual(byUuid[0]!.limits, mine.limits);

  const raw: models.QuotasResponse = await api.users.getUser();
  assert.equal(raw.status, 'success');
  assert.equal(typeof raw.op_time_us, 'number');
  assert.equal(raw.data?.quotas?.[0]?.uuid, mine.uuid);

  const e = await rejection(ukc.users.quotasByUuid('00000000-0000-4000-8000-000000000000'), 'quotas of an unknown user');
  assert.equal(e.status, 404, 'in-band error 8 → 404');
});

// ---------------------------------------------------------------------------
// Create (stopped), get, not-found, update, wait
// ---------------------------------------------------------------------------

test('create (autostart false) returns a stopped models.Instance with the defaults', async () => {
  const m = mark();
  const created = await ukc.instances.create({ name: 'cfg', image: IMAGE, autostart: false, tags: ['conf'], env: { A: '1' } });
  const inst: models.Instance = created;
  hangarInstance(inst, 'created');
  assert.equal(inst.name, 'cfg');
  assert.equal(inst.state, 'stopped');
  assert.equal(inst.image, IMAGE);
  assert.equal(inst.memory_mb, 128, 'default memory_mb');
  assert.equal(inst.vcpus, 1, 'default vcpus');
  assert.equal(inst.restart_policy, 'never', 'default restart_policy');
  assert.deepEqual(inst.tags, ['conf']);
  assert.deepEqual(inst.env, { A: '1' });
  assert.ok(Math.abs(Date.parse(inst.created_at) - Date.now()) < 60_000, 'created_at is now');
  assert.equal(created.metro, n.url, 'the porcelain tags results with the pinned metro');
  const calls = since(m);
  assert.deepEqual(calls.map((c) => `${c.method} ${c.url.pathname}`), ['POST /v1/instances'], trace(calls));
  assert.deepEqual(calls[0]!.body, { name: 'cfg', image: IMAGE, autostart: false, tags: ['conf'], env: { A: '1' } });
});

test('get by name and by uuid (porcelain), and by uuid path (plumbing), agree', async () => {
  const byName = await ukc.instances.get({ name: 'cfg' });
  hangarInstance(byName, 'get(name)');
  const byUuid = await ukc.instances.get({ uuid: byName.uuid });
  hangarInstance(byUuid, 'get(uuid)');
  const raw = await api.instances.getInstanceByUuid(byName.uuid);
  assert.equal(raw.status, 'success', JSON.stringify(raw));
  assert.equal(typeof raw.op_time_us, 'number', 'envelope op_time_us');
  assert.equal(raw.errors, undefined, 'no errors[] on success');
  const rawInst = raw.data?.instances?.[0];
  assert.ok(rawInst, JSON.stringify(raw));
  hangarInstance(rawInst, 'GET /v1/instances/{uuid}');
  const stable = ({ uptime_ms: _u, metro: _m, ...rest }: models.Instance & { metro?: string }) => rest;
  assert.deepEqual(stable(byUuid), stable(byName));
  assert.deepEqual(stable(rawInst), stable(byName));
  assert.equal(byName.name, 'cfg');
  // the plumbing list form with a name filter returns the same thing
  const filtered = await api.instances.getInstances({ name: ['cfg'], details: true });
  assert.equal(filtered.data?.instances?.length, 1);
  assert.deepEqual(stable(filtered.data!.instances![0]!), stable(byName));
});

test('not found: get/update/delete of a missing instance reject with UnikraftCloudError 404 (in-band error 8)', async () => {
  const m = mark();
  const e1 = await rejection(ukc.instances.get({ name: 'does-not-exist' }), 'get(missing name)');
  assert.equal(e1.kind, 'http');
  assert.equal(e1.status, 404, `${e1.message}\n${trace(since(m))}`);
  const body = e1.body as models.GetInstancesResponse;
  assert.equal(body.status, 'error');
  assert.equal(body.message, 'Failed to perform all operations');
  const entry = body.data?.instances?.[0];
  assert.equal(entry?.status, 'error');
  assert.equal(entry?.error, 8);
  assert.equal(entry?.name, 'does-not-exist', 'the failed entry names the ref');
  assert.ok(e1.message.includes('does-not-exist'), `message names the instance: ${e1.message}`);
  assert.equal(since(m)[0]!.status, 200, 'not-found is in-band with HTTP 200');

  const e2 = await rejection(ukc.instances.get({ uuid: '00000000-0000-4000-8000-000000000000' }), 'get(missing uuid)');
  assert.equal(e2.status, 404);
  const e3 = await rejection(ukc.instances.get({ name: 'does-not-exist' }).update({ memory_mb: 256 }), 'update(missing)');
  assert.equal(e3.status, 404);
  const e4 = await rejection(ukc.instances.delete({ name: 'does-not-exist' }), 'delete(missing)');
  assert.equal(e4.status, 404);
  const e5 = await rejection(ukc.instances.get({ name: 'does-not-exist' }).stop(), 'stop(missing)');
  assert.equal(e5.status, 404);

  // a mix: partial_success, per-item entries in request order, and the porcelain does not throw
  const mixed = await api.instances.getInstances({ name: ['cfg', 'does-not-exist'] });
  assert.equal(mixed.status, 'partial_success', JSON.stringify(mixed));
  assert.equal(mixed.data?.instances?.length, 2);
  assert.equal(mixed.data!.instances![0]!.name, 'cfg');
  assert.equal(mixed.data!.instances![0]!.status, 'success');
  assert.equal(mixed.data!.instances![1]!.status, 'error');
  assert.equal(mixed.data!.instances![1]!.error, 8);
  await ukc.instances.create({ name: 'tmp', image: IMAGE, autostart: false });
  const deleted = await ukc.instances.delete([{ name: 'tmp' }, { name: 'does-not-exist' }]);
  assert.equal(deleted.length, 2, 'partial_success does not throw in the porcelain');
  assert.deepEqual(deleted.map((d) => [d.name, d.status, d.error]), [['tmp', 'success', undefined], ['does-not-exist', 'error', 8]]);

  // the plumbing's by-uuid path with a name is the documented "Invalid uuid" 400
  const e6 = await rejection(api.instances.getInstanceByUuid('cfg'), 'GET /v1/instances/cfg');
  assert.equal(e6.status, 400);
  assert.match(e6.message, /Invalid uuid 'cfg'/);
});

test('update({memory_mb: 256}) and edit().add({tags}) / del({tags}) change the instance', async () => {
  const m = mark();
  const u = await ukc.instances.get({ name: 'cfg' }).update({ memory_mb: 256 });
  conforms(updatedCheck, u, 'update result', 'UpdateInstancesResponseUpdatedInstance');
  assert.equal(u.status, 'success');
  assert.equal(u.name, 'cfg');
  assert.deepEqual(since(m).map((c) => [c.method, c.url.pathname, c.body]), [['PATCH', '/v1/instances', [{ name: 'cfg', prop: 'memory_mb', op: 'set', value: 256 }]]]);
  const after1 = await ukc.instances.get({ name: 'cfg' });
  assert.equal(after1.memory_mb, 256);
  assert.equal(u.uuid, after1.uuid);

  const m2 = mark();
  const e = await ukc.instances.get({ name: 'cfg' }).edit().add({ tags: ['blue', 'green'] }).apply();
  conforms(updatedCheck, e, 'edit result', 'UpdateInstancesResponseUpdatedInstance');
  assert.deepEqual(since(m2)[0]!.body, [{ name: 'cfg', prop: 'tags', op: 'add', value: ['blue', 'green'] }]);
  const after2 = await ukc.instances.get({ name: 'cfg' });
  assert.deepEqual([...(after2.tags ?? [])].sort(), ['blue', 'conf', 'green']);

  await ukc.instances.edit({ name: 'cfg' }).del({ tags: ['blue'] }).set({ vcpus: 2 }).apply();
  const after3 = await ukc.instances.get({ name: 'cfg' });
  assert.deepEqual([...(after3.tags ?? [])].sort(), ['conf', 'green']);
  assert.equal(after3.vcpus, 2);
  assert.equal(after3.memory_mb, 256, 'earlier update kept');

  // a value the node refuses (an invalid memory size) is rejected, not silently applied
  const bad = await rejection(ukc.instances.get({ name: 'cfg' }).update({ memory_mb: 1 }), 'update memory_mb 1');
  assert.equal(bad.kind, 'http');
  assert.equal((await ukc.instances.get({ name: 'cfg' })).memory_mb, 256);
});

test('wait: stopped resolves at once; running on a stopped instance times out and rejects', async () => {
  const m = mark();
  const w = await ukc.instances.get({ name: 'cfg' }).wait({ state: 'stopped', timeoutSeconds: 5 });
  conforms(waitedCheck, w, 'wait result', 'WaitInstancesResponseWaitedInstance');
  assert.equal(w.state, 'stopped');
  assert.equal(w.name, 'cfg');
  const q = since(m)[0]!.url.searchParams;
  assert.deepEqual([q.get('name'), q.get('state'), q.get('timeout_s')], ['cfg', 'stopped', '5']);

  const t0 = Date.now();
  const e = await rejection(ukc.instances.get({ name: 'cfg' }).wait({ state: 'running', timeoutSeconds: 1 }), 'wait running on a stopped instance');
  const took = Date.now() - t0;
  assert.ok(took >= 900 && took < 10_000, `timed out after ${took} ms`);
  assert.equal(e.kind, 'http');
  const entry = (e.body as models.WaitInstancesResponse).data?.instances?.[0];
  assert.equal(entry?.status, 'error', JSON.stringify(e.body));
  assert.equal(entry?.error, 4, 'hangar reports a wait timeout as in-band code 4 (docs/compat.md)');
});

// ---------------------------------------------------------------------------
// Paging over 250+ instances
// ---------------------------------------------------------------------------

describe('list with auto-paging over 256 instances', () => {
  const BATCHES = 4;
  const REPLICAS = 63; // 64 instances per create
  const expectedNames = new Set<string>();
  const createdUuids = new Set<string>();

  test('bulk creates: plumbing createInstance and porcelain create with replicas', async () => {
    for (let b = 0; b < BATCHES; b++) {
      expectedNames.add(`pg${b}`);
      for (let r = 1; r <= REPLICAS; r++) expectedNames.add(`pg${b}-${r}`);
    }
    const spec = (b: number): models.CreateInstanceRequest => ({ name: `pg${b}`, image: IMAGE, autostart: false, replicas: REPLICAS, tags: ['paging'], memory_mb: 64 });
    const raw = await Promise.all([0, 1, 2].map((b) => api.instances.createInstance({ body: spec(b) })));
    for (const [b, res] of raw.entries()) {
      assert.equal(res.status, 'success', JSON.stringify(res).slice(0, 500));
      const insts = res.data?.instances ?? [];
      assert.equal(insts.length, REPLICAS + 1, `batch ${b}: one entry per created instance`);
      insts.forEach((i, k) => {
        hangarInstance(i, `batch ${b}[${k}]`);
        assert.equal(i.state, 'stopped');
        assert.equal(i.memory_mb, 64);
        createdUuids.add(i.uuid);
      });
    }
    // the porcelain create takes data.instances[0] (the base name) and hands back a handle to it
    const first = await ukc.instances.create(spec(3));
    assert.equal(first.name, 'pg3');
    hangarInstance(first, 'porcelain create with replicas');
    createdUuids.add(first.uuid);
  });

  test('default page size (100): every instance exactly once, cursors are the last uuid of the previous page', async () => {
    const m = mark();
    const seen: string[] = [];
    const names = new Set<string>();
    for await (const i of ukc.instances.list({ details: true })) {
      seen.push(i.uuid);
      names.add(i.name);
      hangarInstance(i, `list item ${i.name}`);
    }
    const calls = since(m);
    assert.equal(new Set(seen).size, seen.length, 'no duplicates');
    for (const name of expectedNames) assert.ok(names.has(name), `${name} listed`);
    for (const u of createdUuids) assert.ok(seen.includes(u), `${u} listed`);
    assert.ok(names.has('cfg'));
    const total = expectedNames.size + 1; // + cfg
    assert.equal(seen.length, total, `listed ${seen.length}, expected ${total}`);

    const pages = calls.filter((c) => c.method === 'GET' && c.url.pathname === '/v1/instances');
    assert.equal(pages.length, Math.floor(total / 100) + 1, trace(calls));
    pages.forEach((p, k) => {
      assert.equal(p.url.searchParams.get('count'), '100', 'the SDK pages with count=100');
      assert.equal(p.url.searchParams.get('details'), 'true');
      if (k === 0) assert.equal(p.url.searchParams.get('from'), null);
      else assert.equal(p.url.searchParams.get('from'), pages[k - 1]!.listed!.at(-1), `page ${k} cursor`);
      if (k < pages.length - 1) assert.equal(p.listed!.length, 100, `page ${k} is full`);
    });
    assert.deepEqual(pages.flatMap((p) => p.listed!), seen, 'pages concatenate to what the SDK yielded');
    // creation order (asc), no overlap at the boundaries
    for (let k = 1; k < pages.length; k++) {
      const prev = new Set(pages[k - 1]!.listed!);
      assert.ok(!pages[k]!.listed!.some((u) => prev.has(u)), `page ${k} overlaps page ${k - 1}`);
    }
  });

  test('pageSize 64 with a tag filter: 256 = 4 full pages, then an empty one ends the walk', async () => {
    const m = mark();
    const got: string[] = [];
    for await (const i of ukc.instances.list({ tags: ['paging'], pageSize: 64 })) {
      got.push(i.name);
      assert.ok(i.tags?.includes('paging'), `${i.name} carries the tag`);
    }
    const pages = since(m).filter((c) => c.url.pathname === '/v1/instances');
    assert.equal(got.length, 256);
    assert.equal(new Set(got).size, 256, 'no duplicates');
    assert.deepEqual(new Set(got), expectedNames);
    assert.deepEqual(pages.map((p) => p.listed!.length), [64, 64, 64, 64, 0], trace(pages));
    for (const p of pages) {
      assert.equal(p.url.searchParams.get('count'), '64');
      assert.deepEqual(p.url.searchParams.getAll('tags'), ['paging']);
    }
  });

  test('plumbing: details=false returns refs only; order=desc reverses; from is exclusive', async () => {
    const asc = await api.instances.getInstances({ details: false, count: 0 });
    const ascU = (asc.data?.instances ?? []).map((i) => i.uuid);
    assert.equal(ascU.length, 257);
    for (const i of asc.data!.instances!) {
      assert.deepEqual(Object.keys(i).filter((k) => !['status', 'uuid', 'name'].includes(k)), [], `details=false: only uuid+name (${JSON.stringify(i)})`);
    }
    const desc = await api.instances.getInstances({ details: false, order: 'desc', count: 10 });
    assert.deepEqual(desc.data?.instances?.map((i) => i.uuid), ascU.slice(-10).reverse());
    const page = await api.instances.getInstances({ details: false, count: 5, from: ascU[9]! });
    assert.deepEqual(page.data?.instances?.map((i) => i.uuid), ascU.slice(10, 15), 'from is an exclusive cursor');
  });

  test('quotas count the instances', async () => {
    const [q] = await ukc.users.quotas();
    assert.equal(q!.used.instances, 257);
    assert.equal(q!.used.live_instances, 0, 'none running');
  });

  test('bulk delete through the porcelain: one request, 256 entries, then none listed', async () => {
    const refs = [...expectedNames].map((name) => ({ name }));
    const m = mark();
    const res = await ukc.instances.delete(refs);
    const calls = since(m);
    assert.deepEqual(calls.map((c) => `${c.method} ${c.url.pathname}`), ['DELETE /v1/instances'], trace(calls));
    assert.equal((calls[0]!.body as unknown[]).length, 256);
    assert.equal(res.length, 256);
    res.forEach((r, k) => {
      conforms(deletedCheck, r, `delete[${k}]`, 'DeleteInstancesResponseInstance');
      assert.equal(r.status, 'success');
      assert.equal(r.name, refs[k]!.name, 'entries in request order');
      assert.equal(r.previous_state, 'stopped');
    });
    const left: string[] = [];
    for await (const i of ukc.instances.list({ tags: ['paging'] })) left.push(i.name);
    assert.deepEqual(left, []);
    const [q] = await ukc.users.quotas();
    assert.equal(q!.used.instances, 1);
  });
});

// ---------------------------------------------------------------------------
// Running instances (real sandboxes)
// ---------------------------------------------------------------------------

describe('a running instance', { timeout: 120_000 }, () => {
  let ip = '';

  test('create with autostart + timeout_s: running, has a private_ip, serves HTTP', async () => {
    const m = mark();
    const inst = await ukc.instances.create({ name: 'web', image: IMAGE, autostart: true, timeout_s: 15 });
    assert.deepEqual(since(m)[0]!.body, { name: 'web', image: IMAGE, autostart: true, timeout_s: 15 });
    hangarInstance(inst, 'created');
    assert.equal(inst.state, 'running', JSON.stringify(inst));
    assert.equal(typeof inst.private_ip, 'string');
    ip = inst.private_ip!;
    assert.match(ip, IPV4_RE);
    assert.equal(inst.network_interfaces?.length, 1);
    assert.equal(inst.network_interfaces![0]!.private_ip, ip);
    assert.equal(inst.start_count, 1);
    assert.ok(inst.started_at !== undefined && Date.parse(inst.started_at) > 0);
    const res = await httpEventually(ip);
    assert.equal(res.status, 200);
    assert.match(res.body, /^Hello from hangar! \(web\)/);
  });

  test('wait running (timeoutSeconds) and get report running', async () => {
    const w = await ukc.instances.get({ name: 'web' }).wait({ state: 'running', timeoutSeconds: 5 });
    conforms(waitedCheck, w, 'wait', 'WaitInstancesResponseWaitedInstance');
    assert.equal(w.state, 'running');
    const i = await ukc.instances.get({ name: 'web' });
    hangarInstance(i, 'get');
    assert.equal(i.state, 'running');
    assert.equal(i.private_ip, ip);
  });

  test('logs (offset -4096): base64 console output that says it is listening', async () => {
    const deadline = Date.now() + 10_000;
    let text = '';
    let entry: models.GetInstancesLogsResponseLoggedInstance | undefined;
    while (Date.now() < deadline) {
      entry = await ukc.instances.get({ name: 'web' }).logs({ offset: -4096 });
      text = Buffer.from(entry.output, 'base64').toString('utf8');
      if (text.includes('listening')) break;
      await sleep(100);
    }
    assert.ok(entry);
    conforms(logsCheck, entry, 'logs', 'GetInstancesLogsResponseLoggedInstance');
    assert.match(text, /listening/, `log tail: ${JSON.stringify(text)}`);
    assert.equal(entry.range.end, entry.available.end, 'a negative offset reads up to the end');
    assert.ok(entry.range.end - entry.range.start <= 4096);
    assert.equal(Buffer.from(entry.output, 'base64').length, entry.range.end - entry.range.start);
    assert.equal(entry.state, 'running');
    const last = wire.at(-1)!;
    assert.deepEqual([last.url.pathname, last.url.searchParams.get('name'), last.url.searchParams.get('offset')], ['/v1/instances/log', 'web', '-4096']);
  });

  test('metrics: rss_bytes > 0 and every counter the model requires', async () => {
    await httpGet(ip, 8080);
    const mt = await ukc.instances.get({ name: 'web' }).metrics();
    conforms(metricsCheck, mt, 'metrics', 'GetInstancesMetricsResponseInstanceMetrics');
    assert.ok(mt.rss_bytes > 0, `rss_bytes ${mt.rss_bytes}`);
    assert.equal(mt.name, 'web');
  });

  test('stop → stopped (wait with timeoutSeconds)', async () => {
    const s = await ukc.instances.get({ name: 'web' }).stop();
    conforms(stoppedCheck, s, 'stop', 'StopInstancesResponseStoppedInstance');
    assert.equal(s.previous_state, 'running');
    assert.ok(['stopping', 'stopped'].includes(s.state), s.state);
    const w = await ukc.instances.get({ name: 'web' }).wait({ state: 'stopped', timeoutSeconds: 15 });
    assert.equal(w.state, 'stopped');
    const i = await ukc.instances.get({ name: 'web' });
    hangarInstance(i, 'stopped instance');
    assert.equal(i.state, 'stopped');
    assert.equal(typeof i.stop_reason, 'number');
    assert.ok(i.stopped_at !== undefined);
  });

  test('start → running again and serving', async () => {
    const s = await ukc.instances.get({ name: 'web' }).start();
    conforms(startedCheck, s, 'start', 'StartInstancesResponseStartedInstance');
    assert.equal(s.previous_state, 'stopped');
    assert.ok(['starting', 'running'].includes(s.state), s.state);
    const w = await ukc.instances.get({ name: 'web' }).wait({ state: 'running', timeoutSeconds: 15 });
    assert.equal(w.state, 'running');
    const i = await ukc.instances.get({ name: 'web' });
    assert.equal(i.start_count, 2);
    ip = i.private_ip ?? ip;
    const res = await httpEventually(ip);
    assert.match(res.body, /Hello from hangar! \(web\)/);
  });

  test('suspend → standby (not answering), then start → running and serving', async () => {
    const s = await ukc.instances.get({ name: 'web' }).suspend();
    conforms(suspendedCheck, s, 'suspend', 'SuspendInstancesResponseSuspendedInstance');
    assert.equal(s.previous_state, 'running');
    assert.equal(s.state, 'standby');
    assert.equal((await ukc.instances.get({ name: 'web' })).state, 'standby');
    const w = await ukc.instances.get({ name: 'web' }).wait({ state: 'standby', timeoutSeconds: 5 });
    assert.equal(w.state, 'standby');
    await assert.rejects(httpGet(ip, 8080, '/', 700), 'a suspended instance does not answer');

    const r = await ukc.instances.get({ name: 'web' }).start();
    assert.equal(r.previous_state, 'standby');
    await ukc.instances.get({ name: 'web' }).wait({ state: 'running', timeoutSeconds: 15 });
    const res = await httpEventually(ip);
    assert.match(res.body, /Hello from hangar! \(web\)/);
  });

  test('an app that exits: stopped with exit_code, as the model types it', async () => {
    const x = await ukc.instances.create({ name: 'exiter', image: IMAGE, args: ['/hello', '--exit', '3'], autostart: true });
    hangarInstance(x, 'exiter');
    const w = await ukc.instances.get({ name: 'exiter' }).wait({ state: 'stopped', timeoutSeconds: 15 });
    assert.equal(w.state, 'stopped');
    const i = await ukc.instances.get({ name: 'exiter' });
    hangarInstance(i, 'exited');
    assert.equal(i.exit_code, 3);
    assert.equal(typeof i.stop_reason, 'number');
  });

  test('delete (bulk) of running and stopped instances', async () => {
    const res = await ukc.instances.delete([{ name: 'web' }, { name: 'exiter' }]);
    assert.equal(res.length, 2);
    res.forEach((r, k) => conforms(deletedCheck, r, `delete[${k}]`, 'DeleteInstancesResponseInstance'));
    assert.deepEqual(res.map((r) => [r.name, r.status, r.previous_state]), [['web', 'success', 'running'], ['exiter', 'success', 'stopped']]);
    const e = await rejection(ukc.instances.get({ name: 'web' }), 'get after delete');
    assert.equal(e.status, 404);
    await assert.rejects(httpGet(ip, 8080, '/', 700), 'a deleted instance does not answer');
  });
});

// ---------------------------------------------------------------------------
// Full model conformance of everything validated above
// ---------------------------------------------------------------------------

test('full model conformance: optional fields typed as the models declare, integers where the spec says (u)int64', () => {
  assert.ok(validated.length > 300, `validated ${validated.length} objects`);
  const seenModels = new Set(validated.map((v) => v.model));
  for (const m of ['Instance', 'InstanceNetworkInterface', 'Quotas', 'UpdateInstancesResponseUpdatedInstance', 'WaitInstancesResponseWaitedInstance', 'DeleteInstancesResponseInstance']) {
    assert.ok(seenModels.has(m), `validated some ${m}`);
  }
  // one line per distinct problem (paths without the per-object label and indexes), with a count and an example
  const byKind = new Map<string, { count: number; example: string }>();
  for (const v of validated) {
    for (const p of v.problems) {
      const key = `${v.model}${p.path.slice(v.what.length).replace(/\[\d+\]/g, '[]')}: ${p.msg.replace(/got .*/, 'got …')}`;
      const seen = byKind.get(key);
      if (seen) seen.count++;
      else byKind.set(key, { count: 1, example: `${p.path}: ${p.msg}` });
    }
  }
  const report = [...byKind].map(([k, { count, example }]) => `${k} (${count}×; e.g. ${example})`);
  assert.deepEqual(report, [], `answers that do not fully validate against the SDK models:\n  ${report.join('\n  ')}`);
});

// ---------------------------------------------------------------------------
// Clean-up, and what the SDK sent overall
// ---------------------------------------------------------------------------

test('clean-up: delete everything through the SDK; the node lists nothing', async () => {
  const all: { uuid: string }[] = [];
  for await (const i of ukc.instances.list({ details: false })) all.push({ uuid: i.uuid });
  if (all.length > 0) {
    const res = await ukc.instances.delete(all);
    assert.ok(res.every((r) => r.status === 'success'), JSON.stringify(res));
  }
  const left: string[] = [];
  for await (const i of ukc.instances.list()) left.push(i.name);
  assert.deepEqual(left, []);
  const [q] = await ukc.users.quotas();
  assert.equal(q!.used.instances, 0);
  assert.equal(q!.used.live_instances, 0);
});

test('the SDK only ever talked to the pinned node (no metro discovery, no control plane)', () => {
  assert.ok(wire.length > 0);
  const origin = new URL(n.url).origin;
  const elsewhere = wire.filter((c) => c.url.origin !== origin);
  assert.deepEqual(trace(elsewhere), '');
  assert.ok(wire.every((c) => c.url.pathname.startsWith('/v1/')), 'every path carries /v1');
});
