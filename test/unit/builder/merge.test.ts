/** How the runtime's, the Dockerfile's and the Kraftfile's settings combine into the image config. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finalConfig, mergeEnv, prependEnv } from '../../../src/builder/image-config.js';

const runtime = { Env: ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8'], Cmd: ['/usr/bin/python3'], WorkingDir: '/', Labels: { 'dev.hangar.runtime': 'python3' } };

describe('config merge rules', () => {
  it('Dockerfile Env replaces the runtime entry with the same key, in place; new keys are appended', () => {
    assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4']), ['A=1', 'B=3', 'C=4']);
  });

  it('Kraftfile env is prepended and removes the same keys from what follows; its last duplicate wins', () => {
    assert.deepEqual(prependEnv(['PATH=/bin', 'PORT=80', 'X=1'], [['PORT', '8080'], ['Y', 'a'], ['PORT', '9090']]), ['PORT=9090', 'Y=a', 'PATH=/bin', 'X=1']);
  });

  it('no Dockerfile command: the runtime Entrypoint/Cmd apply', () => {
    const c = finalConfig(runtime, { Env: ['PATH=/usr/local/bin:/usr/bin'] });
    assert.deepEqual(c['Cmd'], ['/usr/bin/python3']);
    assert.deepEqual(c['Env'], ['PATH=/usr/local/bin:/usr/bin', 'LANG=C.UTF-8']);
    assert.equal(c['WorkingDir'], '/');
  });

  it('a Dockerfile ENTRYPOINT or CMD replaces the runtime pair', () => {
    const c = finalConfig({ ...runtime, Entrypoint: ['/entry'] }, { Cmd: ['/app/server'] });
    assert.equal(c['Entrypoint'], undefined);
    assert.deepEqual(c['Cmd'], ['/app/server']);
  });

  it('Kraftfile cmd overrides Dockerfile CMD and clears ENTRYPOINT', () => {
    const c = finalConfig(undefined, { Entrypoint: ['/wrapper.sh'], Cmd: ['/server'] }, { cmd: ['/usr/bin/python3', '/app/server.py'] });
    assert.equal(c['Entrypoint'], undefined);
    assert.deepEqual(c['Cmd'], ['/usr/bin/python3', '/app/server.py']);
  });

  it('labels: runtime ← Dockerfile ← Kraftfile; WorkingDir, User and ports from the Dockerfile', () => {
    const c = finalConfig(runtime, { Labels: { a: 'docker', b: 'docker' }, WorkingDir: '/app', User: '1000', ExposedPorts: { '8080/tcp': {} } }, { labels: { b: 'kraft' } });
    assert.deepEqual(c['Labels'], { 'dev.hangar.runtime': 'python3', a: 'docker', b: 'kraft' });
    assert.equal(c['WorkingDir'], '/app');
    assert.equal(c['User'], '1000');
    assert.deepEqual(c['ExposedPorts'], { '8080/tcp': {} });
  });

  it('Kraftfile env goes in front of the merged runtime + Dockerfile env', () => {
    const c = finalConfig(runtime, { Env: ['LANG=en_US.UTF-8'] }, { env: [['LANG', 'C'], ['PORT', '8080']] });
    assert.deepEqual(c['Env'], ['LANG=C', 'PORT=8080', 'PATH=/usr/bin:/bin']);
  });
});
