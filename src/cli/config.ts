import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import YAML from 'yaml';
import { HangarError } from '../lib/errors.js';

/** What `hangar login` remembers: one node and its token. */
export interface CliConfig {
  metro?: string;
  token?: string;
}

/** `$XDG_CONFIG_HOME/hangar/config.yaml`, else `~/.config/hangar/config.yaml`. */
export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env['XDG_CONFIG_HOME'] || join(env['HOME'] || '/root', '.config');
  return join(base, 'hangar', 'config.yaml');
}

export function readConfig(env: NodeJS.ProcessEnv): CliConfig {
  const path = configPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  let v: unknown;
  try {
    v = YAML.parse(text);
  } catch (e) {
    throw new HangarError('invalid_argument', `config ${path} is not valid YAML (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); fix it or run \`hangar login\` again`);
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new HangarError('invalid_argument', `config ${path} must be a mapping with metro and token; run \`hangar login\` again`);
  const o = v as Record<string, unknown>;
  return {
    ...(typeof o['metro'] === 'string' ? { metro: o['metro'] } : {}),
    ...(typeof o['token'] === 'string' ? { token: o['token'] } : {}),
  };
}

/** Writes the config readable by its owner only (the folder 0700, the file 0600). */
export function writeConfig(env: NodeJS.ProcessEnv, cfg: CliConfig): string {
  const path = configPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `# written by \`hangar login\`\n${YAML.stringify(cfg)}`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

export function removeConfig(env: NodeJS.ProcessEnv): boolean {
  const path = configPath(env);
  try {
    readFileSync(path);
  } catch {
    return false;
  }
  rmSync(path, { force: true });
  return true;
}
