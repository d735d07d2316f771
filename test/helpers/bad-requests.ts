/**
 * Malformed or forbidden requests, each with the status and the field the
 * error must name. Run by the API unit test (no sandboxes) and against a real
 * node (which must then hold no instance, sandbox or netns).
 */
export interface BadRequest {
  what: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  rawBody?: string;
  /** Overrides the Authorization header ('' = none). */
  auth?: string;
  status: number;
  /** Text the error message must contain (usually the field name). */
  mentions: string;
}

const U = '00000000-0000-4000-8000-00000000abcd';

export const BAD_REQUESTS: BadRequest[] = [
  { what: 'no token', method: 'GET', path: '/v1/instances', auth: '', status: 401, mentions: 'token' },
  { what: 'wrong token', method: 'GET', path: '/v1/instances', auth: 'Bearer nope', status: 401, mentions: 'token' },
  { what: 'basic auth instead of bearer', method: 'GET', path: '/v1/instances', auth: 'Basic YTpi', status: 401, mentions: 'token' },
  { what: 'create without token', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest' }, auth: '', status: 401, mentions: 'token' },
  { what: 'no body', method: 'POST', path: '/v1/instances', status: 400, mentions: 'body' },
  { what: 'body not JSON', method: 'POST', path: '/v1/instances', rawBody: '{"image": ', status: 400, mentions: 'body' },
  { what: 'body is a number', method: 'POST', path: '/v1/instances', body: 42, status: 400, mentions: 'body' },
  { what: 'body is a string', method: 'POST', path: '/v1/instances', body: 'hello', status: 400, mentions: 'body' },
  { what: 'empty bulk array', method: 'POST', path: '/v1/instances', body: [], status: 400, mentions: 'body' },
  { what: 'missing image', method: 'POST', path: '/v1/instances', body: { name: 'a' }, status: 400, mentions: 'image' },
  { what: 'image is a number', method: 'POST', path: '/v1/instances', body: { image: 7 }, status: 400, mentions: 'image' },
  { what: 'image empty', method: 'POST', path: '/v1/instances', body: { image: '' }, status: 400, mentions: 'image' },
  { what: 'unknown image', method: 'POST', path: '/v1/instances', body: { image: 'no-such-image:1' }, status: 400, mentions: 'image' },
  { what: 'image ref with uppercase', method: 'POST', path: '/v1/instances', body: { image: 'Hello:latest' }, status: 400, mentions: 'image' },
  { what: 'image ref with traversal', method: 'POST', path: '/v1/instances', body: { image: '../../etc/passwd' }, status: 400, mentions: 'image' },
  { what: 'unknown field', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', colour: 'blue' }, status: 400, mentions: 'colour' },
  { what: 'unknown nested field in image spec', method: 'POST', path: '/v1/instances', body: { image: { url: 'hello:latest', x: 1 } }, status: 400, mentions: 'image.x' },
  { what: 'name with uppercase', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', name: 'Web' }, status: 400, mentions: 'name' },
  { what: 'name with underscore', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', name: 'my_app' }, status: 400, mentions: 'name' },
  { what: 'name starting with dash', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', name: '-web' }, status: 400, mentions: 'name' },
  { what: 'name too long', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', name: 'a'.repeat(64) }, status: 400, mentions: 'name' },
  { what: 'name is a number', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', name: 5 }, status: 400, mentions: 'name' },
  { what: 'memory over the limit', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', memory_mb: 10_000_000 }, status: 400, mentions: 'memory_mb' },
  { what: 'memory under the minimum', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', memory_mb: 1 }, status: 400, mentions: 'memory_mb' },
  { what: 'memory negative', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', memory_mb: -128 }, status: 400, mentions: 'memory_mb' },
  { what: 'memory fractional', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', memory_mb: 128.5 }, status: 400, mentions: 'memory_mb' },
  { what: 'memory as a string', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', memory_mb: '128' }, status: 400, mentions: 'memory_mb' },
  { what: 'vcpus zero', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', vcpus: 0 }, status: 400, mentions: 'vcpus' },
  { what: 'vcpus too many', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', vcpus: 4096 }, status: 400, mentions: 'vcpus' },
  { what: 'args not an array', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', args: '/hello' }, status: 400, mentions: 'args' },
  { what: 'args with a number', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', args: ['/hello', 1] }, status: 400, mentions: 'args[1]' },
  { what: 'env as an array', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', env: ['A=1'] }, status: 400, mentions: 'env' },
  { what: 'env value a number', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', env: { A: 1 } }, status: 400, mentions: 'env.A' },
  { what: 'env name with =', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', env: { 'A=B': 'x' } }, status: 400, mentions: 'env' },
  { what: 'bad restart policy', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', restart_policy: 'sometimes' }, status: 400, mentions: 'restart_policy' },
  { what: 'unknown feature', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', features: ['time-travel'] }, status: 400, mentions: 'features' },
  { what: 'delete-on-stop with restart always', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', features: ['delete-on-stop'], restart_policy: 'always' }, status: 400, mentions: 'features' },
  { what: 'autostart not a boolean', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', autostart: 'yes' }, status: 400, mentions: 'autostart' },
  { what: 'timeout_s without autostart', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', autostart: false, timeout_s: 5 }, status: 400, mentions: 'timeout_s' },
  { what: 'negative replicas', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', replicas: -1 }, status: 400, mentions: 'replicas' },
  { what: 'too many replicas', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', replicas: 100000 }, status: 429, mentions: 'replicas' },
  { what: 'hostname not a label', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', hostname: 'a.b.c' }, status: 400, mentions: 'hostname' },
  { what: 'tags not strings', method: 'POST', path: '/v1/instances', body: { image: 'hello:latest', tags: [1] }, status: 400, mentions: 'tags[0]' },
  { what: 'second bulk item bad', method: 'POST', path: '/v1/instances', body: [{ image: 'hello:latest', name: 'ok-one' }, { image: 'hello:latest', memory_mb: 'x' }], status: 400, mentions: '[1].memory_mb' },
  { what: 'name given as uuid in path', method: 'GET', path: '/v1/instances/web', status: 400, mentions: 'Invalid uuid' },
  { what: 'list with bad count', method: 'GET', path: '/v1/instances?count=abc', status: 400, mentions: 'count' },
  { what: 'list with bad order', method: 'GET', path: '/v1/instances?order=sideways', status: 400, mentions: 'order' },
  { what: 'list with unknown query param', method: 'GET', path: '/v1/instances?colour=red', status: 400, mentions: 'colour' },
  { what: 'list with bad from', method: 'GET', path: '/v1/instances?from=yesterday-ish', status: 400, mentions: 'from' },
  { what: 'list with bad uuid filter', method: 'GET', path: '/v1/instances?uuid=xyz', status: 400, mentions: 'uuid' },
  { what: 'stop without body', method: 'PUT', path: '/v1/instances/stop', status: 400, mentions: 'body' },
  { what: 'stop item with both uuid and name', method: 'PUT', path: '/v1/instances/stop', body: [{ uuid: U, name: 'x' }], status: 400, mentions: 'uuid' },
  { what: 'stop item with neither uuid nor name', method: 'PUT', path: '/v1/instances/stop', body: [{ force: true }], status: 400, mentions: 'uuid' },
  { what: 'stop force with drain', method: 'PUT', path: `/v1/instances/${U}/stop`, body: { force: true, drain_timeout_ms: 100 }, status: 400, mentions: 'drain_timeout_ms' },
  { what: 'start with unknown field', method: 'PUT', path: '/v1/instances/start', body: [{ name: 'x', turbo: true }], status: 400, mentions: 'turbo' },
  { what: 'patch with unknown prop', method: 'PATCH', path: '/v1/instances', body: [{ name: 'x', prop: 'colour', op: 'set', value: 1 }], status: 400, mentions: 'prop' },
  { what: 'patch with bad op', method: 'PATCH', path: '/v1/instances', body: [{ name: 'x', prop: 'memory_mb', op: 'multiply', value: 2 }], status: 400, mentions: 'op' },
  { what: 'delete body not array or object', method: 'DELETE', path: '/v1/instances', body: 'x', status: 400, mentions: 'body' },
  { what: 'wait for an unknown state', method: 'GET', path: `/v1/instances/wait?uuid=${U}&state=sleeping`, status: 400, mentions: 'state' },
  { what: 'wait with a non-integer timeout', method: 'GET', path: `/v1/instances/wait?uuid=${U}&timeout_s=soon`, status: 400, mentions: 'timeout_s' },
  { what: 'log with a non-integer offset', method: 'GET', path: `/v1/instances/log?uuid=${U}&offset=end`, status: 400, mentions: 'offset' },
  { what: 'add user as non-admin path without body', method: 'POST', path: '/v1/users', status: 400, mentions: 'body' },
  { what: 'no such endpoint', method: 'GET', path: '/v1/teleport', status: 404, mentions: 'endpoint' },
];
