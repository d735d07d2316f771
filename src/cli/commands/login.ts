import { createInterface } from 'node:readline';
import { HangarError } from '../../lib/errors.js';
import { NodeApi, resolveMetro } from '../client.js';
import { configPath, removeConfig, writeConfig } from '../config.js';
import type { Io } from '../io.js';
import { verb } from '../spec.js';

/** One line from stdin; on a terminal, typed without echo (raw mode). */
async function readToken(io: Io, prompt: string): Promise<string> {
  const stdin = io.stdin;
  if (stdin.isTTY !== true || typeof stdin.setRawMode !== 'function') {
    const rl = createInterface({ input: stdin, terminal: false });
    try {
      for await (const line of rl) return line.trim();
      return '';
    } finally {
      rl.close();
    }
  }
  io.err(prompt);
  stdin.setRawMode(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const onData = (d: Buffer | string): void => {
        for (const ch of d.toString()) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(() => resolve(typed.trim()));
          if (ch === '\u0003') return finish(() => reject(new HangarError('timeout', 'login: interrupted')));
          typed = ch === '\u007f' || ch === '\b' ? typed.slice(0, -1) : typed + ch;
        }
      };
      const finish = (then: () => void): void => {
        stdin.removeListener('data', onData);
        stdin.pause();
        then();
      };
      stdin.on('data', onData);
      stdin.resume();
    });
  } finally {
    stdin.setRawMode(false);
    io.err('\n');
  }
}

export const login = verb<Record<string, never>>({
  name: 'login',
  summary: 'Check a token against a node and remember both',
  description: 'The token comes from --token, UKC_TOKEN or stdin. It is checked with GET /v1/users/quotas, then written with the metro to ~/.config/hangar/config.yaml (mode 0600; $XDG_CONFIG_HOME is honoured).',
  examples: [
    'hangar login --metro http://127.0.0.1:8080 --token "$(cat ~/.hangar/token)"',
    'cat token.txt | hangar login --metro http://10.0.0.5:8080',
  ],
  async run(ctx) {
    const env = ctx.io.env;
    const baseUrl = resolveMetro(ctx.globals, env);
    const token = ctx.globals.token ?? env['UKC_TOKEN'] ?? (await readToken(ctx.io, `token for ${baseUrl}: `));
    if (!token) throw new HangarError('unauthenticated', `login: no token given; pass --token <token> or pipe it on stdin (a local node keeps its admin token in ~/.hangar/token)`);
    const api = new NodeApi({ baseUrl, token, tokenFrom: ctx.globals.token ? 'flag' : env['UKC_TOKEN'] ? 'env' : 'stdin' });
    const { entries } = await api.call('GET', '/v1/users/quotas', undefined, { timeoutMs: 10_000, signal: ctx.io.signal });
    const path = writeConfig(env, { metro: baseUrl, token });
    ctx.io.out(`logged in to ${baseUrl} as user ${String(entries[0]?.['uuid'] ?? '?')}; saved to ${path}\n`);
  },
});

export const logout = verb<Record<string, never>>({
  name: 'logout',
  summary: 'Forget the stored metro and token',
  examples: ['hangar logout'],
  async run(ctx) {
    const path = configPath(ctx.io.env);
    ctx.io.out(removeConfig(ctx.io.env) ? `logged out; removed ${path}\n` : `not logged in (no ${path})\n`);
  },
});
