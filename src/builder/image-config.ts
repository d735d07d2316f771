/**
 * The runnable config of a built image, from three sources, later ones winning:
 *
 * 1. the runtime's config (Env, Entrypoint/Cmd, WorkingDir, Labels) when the
 *    runtime's layers were put under a `FROM scratch` build;
 * 2. the Dockerfile's result: its Env entries replace the runtime's by key; its
 *    Entrypoint/Cmd, when it sets either, replace the runtime's pair; WorkingDir,
 *    User and ExposedPorts when set; Labels merged by key;
 * 3. the Kraftfile (ukc-workflows.md §2.3, §8.4): `cmd` is the whole argv, so it
 *    becomes Cmd and clears Entrypoint; `env` is prepended (its keys removed
 *    from what follows); `labels` override by key.
 */

export type OciConfig = Record<string, unknown>;

export interface KraftfileOverrides {
  cmd?: readonly string[];
  env?: ReadonlyArray<readonly [string, string]>;
  labels?: Readonly<Record<string, string>>;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const record = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const envKey = (e: string): string => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);

/** `over` entries replace `base` entries with the same key in place; new keys are appended. */
export function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const out = [...base];
  for (const e of over) {
    const i = out.findIndex((b) => envKey(b) === envKey(e));
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

/** Kraftfile env first (later duplicates within it win), then the image's entries for other keys. */
export function prependEnv(image: readonly string[], kraft: ReadonlyArray<readonly [string, string]>): string[] {
  const first = new Map<string, string>();
  for (const [k, v] of kraft) first.set(k, v);
  return [...[...first].map(([k, v]) => `${k}=${v}`), ...image.filter((e) => !first.has(envKey(e)))];
}

/** The `config` section of the final image config. */
export function finalConfig(runtime: OciConfig | undefined, built: OciConfig, kraft: KraftfileOverrides = {}): OciConfig {
  const rt = runtime ?? {};
  const out: OciConfig = {};
  let env = mergeEnv(strings(rt['Env']), strings(built['Env']));
  const builtSetsCommand = strings(built['Entrypoint']).length > 0 || strings(built['Cmd']).length > 0;
  let entrypoint = builtSetsCommand ? strings(built['Entrypoint']) : strings(rt['Entrypoint']);
  let cmd = builtSetsCommand ? strings(built['Cmd']) : strings(rt['Cmd']);
  if (kraft.cmd && kraft.cmd.length > 0) {
    entrypoint = [];
    cmd = [...kraft.cmd];
  }
  if (kraft.env && kraft.env.length > 0) env = prependEnv(env, kraft.env);
  if (env.length > 0) out['Env'] = env;
  if (entrypoint.length > 0) out['Entrypoint'] = entrypoint;
  if (cmd.length > 0) out['Cmd'] = cmd;
  const workingDir = (typeof built['WorkingDir'] === 'string' && built['WorkingDir']) || (typeof rt['WorkingDir'] === 'string' && rt['WorkingDir']) || '';
  if (workingDir) out['WorkingDir'] = workingDir;
  if (typeof built['User'] === 'string' && built['User']) out['User'] = built['User'];
  const ports = { ...record(rt['ExposedPorts']), ...record(built['ExposedPorts']) };
  if (Object.keys(ports).length > 0) out['ExposedPorts'] = ports;
  const labels = { ...record(rt['Labels']), ...record(built['Labels']), ...(kraft.labels ?? {}) };
  if (Object.keys(labels).length > 0) out['Labels'] = labels;
  if (typeof built['StopSignal'] === 'string') out['StopSignal'] = built['StopSignal'];
  return out;
}
