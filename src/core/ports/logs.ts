/** Console output of instances, kept on disk by the node across restarts of the instance. */

export interface LogRange {
  start: number;
  end: number;
}

export interface LogChunk {
  data: Buffer;
  /** Byte range of the whole log that is still kept. */
  available: LogRange;
  /** Byte range that `data` covers. */
  range: LogRange;
}

export interface LogStore {
  /** Host path the runtime appends the console output of `id` to. */
  pathFor(id: string): string;
  /**
   * Reads up to `limit` bytes from `offset`; a negative offset counts from the
   * end. Offsets outside `available` are clamped.
   */
  read(id: string, offset: number, limit: number): Promise<LogChunk>;
  remove(id: string): Promise<void>;
}
