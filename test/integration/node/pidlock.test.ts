import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startTestNode, testConfig } from '../../helpers/node.js';

test('a stale node.pid naming an unrelated live process does not block the node', async () => {
  const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const config = testConfig();
    writeFileSync(join(config.home, 'node.pid'), `${unrelated.pid}\n`);
    const n = await startTestNode(config);
    try {
      assert.equal((await fetch(`${n.url}/v1/healthz`)).status, 200);
      assert.equal(readFileSync(join(config.home, 'node.pid'), 'utf8').split(' ')[0], String(process.pid));
    } finally {
      await n.close();
    }
  } finally {
    unrelated.kill('SIGKILL');
  }
});

test('a lock whose pid was reused (same pid, other start time) is stale; a live node still blocks', async () => {
  const config = testConfig();
  // This process is alive, but it did not start at time 1: the pid was reused.
  const lockFile = join(config.home, 'node.pid');
  const other = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    writeFileSync(lockFile, `${other.pid} 1\n`);
    const n = await startTestNode(config);
    try {
      // Now a node (this process) holds the lock for real: a node from another process is refused.
      const held = readFileSync(lockFile, 'utf8');
      writeFileSync(lockFile, held.replace(String(process.pid), String(other.pid)).replace(/ \d+\n$/, ` ${readFileSync(`/proc/${other.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]}\n`));
      const { takePidLock } = await import('../../../src/node/pidlock.js');
      assert.throws(() => takePidLock(config.home), /another node/);
      writeFileSync(lockFile, held);
    } finally {
      await n.close();
    }
  } finally {
    other.kill('SIGKILL');
  }
});
