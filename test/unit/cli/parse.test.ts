import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePort, parsePorts } from '../../../src/cli/parse/ports.js';
import { parseCount, parseDuration, parseMemory } from '../../../src/cli/parse/units.js';
import { parseEnvFile, parseEnvFlags } from '../../../src/cli/parse/env.js';
import { parseRom, parseRoms, parseScaleToZero } from '../../../src/cli/parse/kv-spec.js';

const throwsMsg = (fn: () => unknown, re: RegExp): void => {
  assert.throws(fn, (e: Error) => {
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
};

test('ports: <public>:<dest>[/handlers] with the platform\'s handler rules', () => {
  const ok: Array<[string, ReturnType<typeof parsePort>]> = [
    ['443:8080/http+tls', { port: 443, destination_port: 8080, handlers: ['http', 'tls'] }],
    ['443:8080', { port: 443, destination_port: 8080, handlers: ['http', 'tls'] }],
    ['443:8080/tls+http', { port: 443, destination_port: 8080, handlers: ['tls', 'http'] }],
    ['80:443/http+redirect', { port: 80, destination_port: 443, handlers: ['http', 'redirect'] }],
    ['80:8080', { port: 80, destination_port: 8080, handlers: ['http'] }],
    ['5432:5432', { port: 5432, destination_port: 5432, handlers: ['tls'] }],
    ['8443:8080/tls', { port: 8443, destination_port: 8080, handlers: ['tls'] }],
  ];
  for (const [spec, want] of ok) assert.deepEqual(parsePort(spec), want, spec);
  const bad: Array<[string, RegExp]> = [
    ['443:http', /^-p 443:http: expected <public>:<dest>\[\/<handlers>\], e\.g\. 443:8080\/http\+tls$/],
    ['443', /expected <public>:<dest>/],
    ['', /expected <public>:<dest>/],
    ['0:8080', /port 0 is not in 1-65535/],
    ['443:70000', /port 70000 is not in 1-65535/],
    ['443:8080/http+gzip', /unknown handler 'gzip'/],
    ['443:8080/http', /port 443 needs the handlers http\+tls/],
    ['80:8080/http+tls', /port 80 needs the http handler and not tls/],
    ['8080:8080/http', /port 8080 is TLS-wrapped TCP/],
    ['8443:8080/tls+redirect', /redirect is only allowed on port 80/],
  ];
  for (const [spec, re] of bad) throwsMsg(() => parsePort(spec), re);
  throwsMsg(() => parsePorts(['443:8080', '443:9090']), /public port 443 is given twice/);
});

test('memory: binary Mi/Gi, decimal M/G rounded up to MiB, bare numbers are MiB', () => {
  const cases: Array<[string, number]> = [
    ['512Mi', 512], ['512MiB', 512], ['1Gi', 1024], ['1.5Gi', 1536], ['256', 256], ['256M', 245], ['1G', 954],
    ['1000000K', 954], ['1048576Ki', 1024], ['64mi', 64], [' 128 Mi ', 128], ['1048576b', 1],
  ];
  for (const [v, mb] of cases) assert.equal(parseMemory(v), mb, v);
  throwsMsg(() => parseMemory('12Qi', '-M'), /^-M 12Qi: unknown unit 'Qi'; expected a size like 512Mi/);
  throwsMsg(() => parseMemory('lots'), /expected a size like 512Mi, 1Gi or 256M/);
  throwsMsg(() => parseMemory('0'), /at least 1 MiB/);
  throwsMsg(() => parseMemory('-5Mi'), /expected a size/);
});

test('durations and counts', () => {
  assert.equal(parseDuration('10s', '-w'), 10_000);
  assert.equal(parseDuration('500ms', '-w'), 500);
  assert.equal(parseDuration('1m30s', '-w'), 90_000);
  assert.equal(parseDuration('2', '-w'), 2000);
  assert.equal(parseDuration('1000', 'x', 'ms'), 1000);
  throwsMsg(() => parseDuration('10 parsecs', '--wait'), /^--wait 10 parsecs: expected a duration like 500ms/);
  throwsMsg(() => parseDuration('5s5', '--wait'), /expected a duration/);
  assert.equal(parseCount('3', '-R'), 3);
  throwsMsg(() => parseCount('-1', '-R'), /^-R -1: expected a whole number/);
});

test('env: -e K=V, -e K from here, env files', () => {
  assert.deepEqual(parseEnvFlags(['A=1', 'B=x=y', 'C=', 'A=2'], {}), { A: '2', B: 'x=y', C: '' });
  assert.deepEqual(parseEnvFlags(['HOME'], { HOME: '/root' }), { HOME: '/root' });
  throwsMsg(() => parseEnvFlags(['NOPE'], {}), /^-e NOPE: NOPE is not set here; give it as NOPE=VALUE$/);
  throwsMsg(() => parseEnvFlags(['1A=b'], {}), /expected KEY=VALUE/);
  throwsMsg(() => parseEnvFlags(['=b'], {}), /expected KEY=VALUE/);
  const file = '# comment\n\nA=1\nexport B="two words"\nC=\'x\'\nD = spaced \n';
  assert.deepEqual(parseEnvFile(file, '.env'), { A: '1', B: 'two words', C: 'x', D: 'spaced' });
  throwsMsg(() => parseEnvFile('A=1\njunk\n', '.env'), /^--env-file \.env:2: expected KEY=VALUE, got 'junk'$/);
});

test('--rom image=|dir=, at=, name=', () => {
  assert.deepEqual(parseRom('image=myrom:latest,at=/rom'), { at: '/rom', image: 'myrom:latest' });
  assert.deepEqual(parseRom('dir=./site,at=/www,name=site'), { name: 'site', at: '/www', dir: './site' });
  assert.deepEqual(parseRom('image=r:1'), { image: 'r:1' });
  const bad: Array<[string, RegExp]> = [
    ['at=/rom', /give exactly one of image= or dir=/],
    ['image=a,dir=b', /give exactly one of image= or dir=/],
    ['image=a,at=rom', /at=rom must be an absolute path/],
    ['image=a,at=/x/../y', /must be an absolute path without/],
    ['image=a,size=3', /unknown key 'size'; keys are image, dir, at, name/],
    ['image=a,image=b', /'image' is given twice/],
    ['image', /expected key=value pairs/],
    ['image=a,name=Bad Name', /name must be/],
    ['image=', /image= is empty/],
  ];
  for (const [spec, re] of bad) throwsMsg(() => parseRom(spec), re);
  throwsMsg(() => parseRoms(['image=a,at=/r', 'image=b,at=/r']), /at=\/r is used by two ROMs/);
  throwsMsg(() => parseRoms(Array.from({ length: 9 }, (_, i) => `image=r${i}`)), /at most 8 ROMs/);
});

test('--scale-to-zero: a policy word or policy=..,cooldown-time=..,stateful=..', () => {
  assert.deepEqual(parseScaleToZero('on'), { policy: 'on' });
  assert.deepEqual(parseScaleToZero('idle'), { policy: 'idle' });
  assert.deepEqual(parseScaleToZero('policy=on,cooldown-time=1000,stateful=true'), { policy: 'on', cooldown_time_ms: 1000, stateful: true });
  assert.deepEqual(parseScaleToZero('policy=idle,cooldown-time=5s,notify-time=500,stateful=false'), { policy: 'idle', cooldown_time_ms: 5000, notify_time_ms: 500, stateful: false });
  assert.deepEqual(parseScaleToZero('cooldown-time=2000'), { policy: 'on', cooldown_time_ms: 2000 });
  const bad: Array<[string, RegExp]> = [
    ['sometimes', /expected on, idle, off or key=value pairs/],
    ['policy=always', /policy must be one of on, off, idle/],
    ['policy=on,stateful=maybe', /stateful must be true or false/],
    ['policy=on,cooldown-time=soon', /cooldown-time=.*expected a duration/],
    ['policy=on,cooldown-time=1000,notify-time=2000', /notify-time must be shorter than cooldown-time/],
    ['policy=on,wake=1', /unknown key 'wake'/],
  ];
  for (const [spec, re] of bad) throwsMsg(() => parseScaleToZero(spec), re);
});
