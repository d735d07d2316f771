import { Command } from 'commander';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalImageStore } from '../../image/store.js';

/**
 * Images on this machine's node. `import` writes into the node's image store
 * directly (same HANGAR_HOME); a running node sees new images at the next
 * resolve. Registry push/pull arrives with the node's OCI registry.
 */
const storeAt = (home: string | undefined): LocalImageStore =>
  new LocalImageStore({ root: join(resolve(home ?? process.env['HANGAR_HOME'] ?? join(homedir(), '.hangar')), 'images') });

export function imageCommand(): Command {
  const cmd = new Command('image').alias('images').description('Manage images held by the local node');

  cmd.command('import')
    .description('Import an OCI image layout directory or oci-archive tarball')
    .argument('<path>')
    .option('--ref <name:tag>', 'name to give it (default: the ref name inside the archive)')
    .option('--home <dir>', 'node state directory (env HANGAR_HOME)')
    .addHelpText('after', '\nExample:\n  hangar image import build/images/hello.oci.tar --ref hello:latest\n')
    .action(async (path: string, o: { ref?: string; home?: string }) => {
      const store = storeAt(o.home);
      await store.init();
      const recs = await store.import(resolve(path), o.ref ? { ref: o.ref } : {});
      for (const r of recs) process.stdout.write(`imported ${r.ref} ${r.digest} (${(r.sizeBytes / 1024 / 1024).toFixed(1)} MiB)\n`);
    });

  cmd.command('list').alias('ls')
    .description('List images')
    .option('--home <dir>', 'node state directory (env HANGAR_HOME)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { home?: string; output: string }) => {
      const store = storeAt(o.home);
      await store.init();
      const list = await store.list();
      if (o.output === 'json') {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      process.stdout.write('REF  DIGEST  SIZE\n');
      for (const r of list) process.stdout.write(`${r.ref}  ${r.digest.slice(0, 19)}  ${(r.sizeBytes / 1024 / 1024).toFixed(1)}MiB\n`);
    });

  cmd.command('remove').alias('rm')
    .description('Remove an image tag')
    .argument('<ref>')
    .option('--home <dir>', 'node state directory (env HANGAR_HOME)')
    .action(async (ref: string, o: { home?: string }) => {
      const store = storeAt(o.home);
      await store.init();
      await store.remove(ref);
      process.stdout.write(`removed ${ref}\n`);
    });
  return cmd;
}
