import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after } from 'node:test';
import type { NodeConfig } from '../../src/node/config.js';
import { apiClient, spawnNodeProcess, teardown, testConfig } from './node.js';

/**
 * A node run as a separate process for a whole test file (for kill -9 tests):
 * `start()` (re)spawns it, `kill(signal)` ends it and waits; after the file's
 * tests, every instance is deleted, the node stopped and the host checked for leaks.
 */
export function useChildNode(): {
  config: NodeConfig;
  start(): Promise<{ url: string; token: string }>;
  kill(signal: NodeJS.Signals): Promise<void>;
} {
  const config = testConfig();
  const port = 20000 + Math.floor(Math.random() * 20000);
  let child: ChildProcess | undefined;
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill(signal);
    await exited;
  };
  const start = async (): Promise<{ url: string; token: string }> => {
    const node = await spawnNodeProcess(config, port);
    child = node.child;
    return { url: node.url, token: node.token };
  };
  after(async () => {
    await teardown(config, async () => {
      if (!child || child.exitCode !== null) await start();
      const api = apiClient(`http://127.0.0.1:${port}`, readFileSync(`${config.home}/token`, 'utf8').trim());
      const all = await api('GET', '/v1/instances?details=false');
      if (all.items.length) await api('DELETE', '/v1/instances', all.items.map((i) => ({ uuid: i['uuid'] })));
      await kill('SIGTERM');
    });
  });
  return { config, start, kill };
}
