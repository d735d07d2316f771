import { Command } from 'commander';
import { api, type ClientOptions } from '../client.js';

const out = (v: unknown, json: boolean): void => {
  if (json) process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
};

function table(rows: Array<Record<string, unknown>>, cols: string[]): void {
  const cells = rows.map((r) => cols.map((c) => String(r[c] ?? '')));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${line(cols.map((c) => c.toUpperCase()))}\n`);
  for (const r of cells) process.stdout.write(`${line(r)}\n`);
}

const common = (c: Command): Command =>
  c.option('--metro <url>', 'node API URL (env UKC_METRO)').option('--token <token>', 'API token (env UKC_TOKEN)').option('-o, --output <format>', 'table or json', 'table');

type Opts = ClientOptions & { output: string };

export function instanceCommand(): Command {
  const cmd = new Command('instance').alias('instances').description('Manage instances on a node');

  common(cmd.command('list').alias('ls').description('List instances')).action(async (o: Opts) => {
    const rows = await api(o, 'GET', '/v1/instances');
    if (o.output === 'json') return out(rows, true);
    table(rows, ['name', 'state', 'image', 'private_ip', 'memory_mb', 'uuid']);
  });

  common(cmd.command('create').description('Create and start an instance'))
    .requiredOption('--image <ref>', 'image reference, e.g. hello:latest')
    .option('-n, --name <name>', 'instance name')
    .option('-M, --memory <mb>', 'memory in MiB', (v) => Number(v))
    .option('-e, --env <K=V...>', 'environment variables')
    .option('--restart <policy>', 'never | always | on-failure')
    .option('--no-start', 'create stopped')
    .argument('[args...]', 'arguments (the whole argv of the app)')
    .addHelpText('after', '\nExample:\n  hangar instance create --image hello:latest -n hello\n')
    .action(async (args: string[], o: Opts & { image: string; name?: string; memory?: number; env?: string[]; restart?: string; start: boolean }) => {
      const body: Record<string, unknown> = { image: o.image, autostart: o.start };
      if (o.name) body['name'] = o.name;
      if (o.memory) body['memory_mb'] = o.memory;
      if (o.restart) body['restart_policy'] = o.restart;
      if (args.length) body['args'] = args;
      if (o.env) body['env'] = Object.fromEntries(o.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      if (o.start) body['timeout_s'] = 30;
      const rows = await api(o, 'POST', '/v1/instances', body);
      if (o.output === 'json') return out(rows, true);
      table(rows, ['name', 'state', 'private_ip', 'boot_time_us', 'uuid']);
    });

  for (const verb of ['start', 'stop', 'suspend'] as const) {
    common(cmd.command(verb).description(`${verb[0]!.toUpperCase()}${verb.slice(1)} instances`))
      .argument('<names...>')
      .action(async (names: string[], o: Opts) => {
        const rows = await api(o, 'PUT', `/v1/instances/${verb}`, names.map((name) => ({ name })));
        if (o.output === 'json') return out(rows, true);
        table(rows, ['name', 'previous_state', 'state']);
      });
  }

  common(cmd.command('remove').alias('rm').description('Delete instances'))
    .argument('<names...>')
    .action(async (names: string[], o: Opts) => {
      const rows = await api(o, 'DELETE', '/v1/instances', names.map((name) => ({ name })));
      if (o.output === 'json') return out(rows, true);
      table(rows, ['name', 'previous_state']);
    });

  common(cmd.command('logs').description('Print the console output of an instance'))
    .argument('<name>')
    .action(async (name: string, o: Opts) => {
      const [e] = await api(o, 'GET', `/v1/instances/log?name=${encodeURIComponent(name)}&offset=0`);
      process.stdout.write(Buffer.from(String(e?.['output'] ?? ''), 'base64'));
    });

  return cmd;
}
