/** Progress of a build, for the CLI's progress bars and logs. */

export type BuildPhase = 'kraftfile' | 'runtime' | 'dockerfile' | 'export' | 'assemble' | 'pack' | 'write' | 'done';

export interface BuildEvent {
  phase: BuildPhase;
  /** One human-readable line, e.g. `STEP 2/3: COPY server.py /app/server.py`. */
  message: string;
  /** Step counters when the phase has them (Dockerfile steps). */
  current?: number;
  total?: number;
}

export type ProgressFn = (e: BuildEvent) => void;

export const noProgress: ProgressFn = () => {};
