/**
 * A stand-in node process for the "sandbox outlives the node" test: started by
 * runc.test.ts with HANGAR_TEST_CHILD_NODE set, it starts one sandbox, prints
 * {"pid":N} and idles until the test SIGKILLs it. Does nothing otherwise (the
 * test runner may load it as a file of its own).
 */
import type { SandboxSpec } from '../../../src/core/ports/runtime.js';
import { RuncDriver } from '../../../src/runtime/runc/driver.js';

const arg = process.env['HANGAR_TEST_CHILD_NODE'];
if (arg) {
  const { stateDir, shimPath, spec } = JSON.parse(arg) as { stateDir: string; shimPath: string; spec: SandboxSpec };
  const driver = new RuncDriver({ stateDir, shimPath });
  const { pid } = await driver.start(spec);
  process.stdout.write(JSON.stringify({ pid }) + '\n');
  setInterval(() => undefined, 60_000);
}
