import { badFlag } from './errors.js';

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * `-e K=V` (repeatable). `-e K` alone takes K from the caller's environment, as
 * docker does. Later flags win over earlier ones.
 */
export function parseEnvFlags(values: readonly string[], from: NodeJS.ProcessEnv, flag = '-e'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    const key = i < 0 ? v : v.slice(0, i);
    if (!KEY.test(key)) throw badFlag(flag, v, 'expected KEY=VALUE with KEY made of letters, digits and _ (not starting with a digit)');
    if (i < 0) {
      const inherited = from[key];
      if (inherited === undefined) throw badFlag(flag, v, `${key} is not set here; give it as ${key}=VALUE`);
      out[key] = inherited;
    } else out[key] = v.slice(i + 1);
  }
  return out;
}

/**
 * An env file: `KEY=VALUE` lines, `#` comments and blank lines ignored, an
 * optional `export ` prefix, and one pair of matching quotes around the value
 * stripped. `where` names the file in errors.
 */
export function parseEnvFile(text: string, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [n, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const body = line.replace(/^export\s+/, '');
    const i = body.indexOf('=');
    const key = i < 0 ? body : body.slice(0, i).trim();
    if (i < 0 || !KEY.test(key)) throw badFlag('--env-file', `${where}:${n + 1}`, `expected KEY=VALUE, got '${line.slice(0, 40)}'`);
    let value = body.slice(i + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    out[key] = value;
  }
  return out;
}
