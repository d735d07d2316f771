/**
 * The network port: one network namespace per instance on the node's bridge,
 * plus internal DNS (`<name>.internal`). Implemented by net/ with CNI plugins.
 *
 * Contract:
 * - `attach` is idempotent per id: a second call returns the same attachment.
 *   On failure it rejects and leaves no netns, veth or IP lease behind.
 * - `detach` is idempotent and removes the netns, veth and IP lease.
 * - An instance reaches (and resolves `<name>.internal` of) only instances of
 *   the same owner, and the internal DNS server; never other users'
 *   instances, nor the host's other services (API, loopback listeners).
 */

export interface NetworkAttachment {
  id: string;
  /** Path of the network namespace (e.g. /run/netns/hangar-<id>). */
  netnsPath: string;
  ip: string;
  prefixLength: number;
  gateway: string;
  mac: string;
  /** Host file to bind-mount at /etc/resolv.conf inside the sandbox. */
  resolvConf: string;
  /** Host file to bind-mount at /etc/hosts inside the sandbox. */
  hosts: string;
}

export interface NetworkCounters {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

export interface NetworkDriver {
  /** `owner`: the user the instance belongs to; its network is private to that user's instances. */
  attach(id: string, hostname: string, owner: string): Promise<NetworkAttachment>;
  detach(id: string): Promise<void>;
  /** Ids of every attachment present on the host (for reconcile after a restart). */
  list(): Promise<string[]>;
  /**
   * After a crash: the attachment of `id` as the host has it (its netns and
   * eth0 address), with the driver's own record rewritten from it; undefined
   * when the host has none.
   */
  recover(id: string, hostname: string, owner: string): Promise<NetworkAttachment | undefined>;
  counters(id: string): Promise<NetworkCounters>;
  /** Publish `<name>.internal` → ip in the internal DNS. */
  setName(name: string, ip: string): void;
  removeName(name: string): void;
}
