/**
 * iptables rules isolating instances from the host: from the bridge, the host
 * accepts only DNS to the gateway and replies to connections it opened; nothing
 * from the bridge is routed anywhere but back onto the bridge. Instance to
 * instance traffic passes only between one user's instances (tenancy.ts).
 * IPv6 from the bridge is dropped entirely.
 * Rules live in dedicated chains named after the bridge; install is idempotent.
 */
import { HangarError } from '../lib/errors.js';
import { exec } from '../lib/exec.js';
import { bin as binPath } from './bin.js';
import type { NetConfig } from './config.js';
import { removeTenancy, tenancyChain } from './tenancy.js';

export type IptablesBin = 'iptables' | 'ip6tables';

export interface ChainPlan {
  bin: IptablesBin;
  chain: string;
  /** Rules of the chain, in order (arguments after `-A <chain>`). */
  rules: string[][];
  /** Built-in chain that jumps to `chain`. */
  hook: 'INPUT' | 'FORWARD';
  /** Arguments of the jump rule after `<hook>`. */
  jump: string[];
}

const TIMEOUT_MS = 10_000;

export function firewallPlan(cfg: NetConfig): ChainPlan[] {
  const br = cfg.bridge;
  const jump = (chain: string): string[] => ['-i', br, '-m', 'comment', '--comment', cfg.ruleComment, '-j', chain];
  const established = ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'];
  const input4: string[][] = [
    established,
    ['-p', 'udp', '-d', `${cfg.gateway}/32`, '--dport', '53', '-j', 'ACCEPT'],
    ['-p', 'tcp', '-d', `${cfg.gateway}/32`, '--dport', '53', '-j', 'ACCEPT'],
    ['-j', 'DROP'],
  ];
  // Jumped to only for `-i <bridge>`: what stays on the bridge goes to the per-user rules (tenancy.ts), what would be routed away is dropped.
  const forward: string[][] = [['-o', br, '-j', tenancyChain(cfg)], ['-j', 'DROP']];
  return [
    { bin: 'iptables', chain: cfg.inputChain, rules: input4, hook: 'INPUT', jump: jump(cfg.inputChain) },
    { bin: 'iptables', chain: cfg.forwardChain, rules: forward, hook: 'FORWARD', jump: jump(cfg.forwardChain) },
    { bin: 'ip6tables', chain: cfg.inputChain, rules: [['-j', 'DROP']], hook: 'INPUT', jump: jump(cfg.inputChain) },
    // Instances talk IPv4 only (DNS answers A records): IPv6 between them would bypass the per-user rules.
    { bin: 'ip6tables', chain: cfg.forwardChain, rules: [['-j', 'DROP']], hook: 'FORWARD', jump: jump(cfg.forwardChain) },
  ];
}

const ipt = (bin: IptablesBin, args: string[]) =>
  exec(binPath(bin), ['-w', '5', '-t', 'filter', ...args], { timeoutMs: TIMEOUT_MS, allowFailure: true });

async function must(bin: IptablesBin, args: string[]): Promise<void> {
  const res = await ipt(bin, args);
  if (res.code !== 0) {
    throw new HangarError('unavailable', `${bin} ${args.join(' ')} failed: ${res.stderr.trim() || `exit ${res.code}`}`);
  }
}

export async function chainExists(bin: IptablesBin, chain: string): Promise<boolean> {
  return (await ipt(bin, ['-S', chain])).code === 0;
}

async function installChain(p: ChainPlan): Promise<void> {
  if (!(await chainExists(p.bin, p.chain))) await must(p.bin, ['-N', p.chain]);
  // Rules are order-sensitive: if any is missing, rebuild the chain.
  let complete = true;
  for (const r of p.rules) {
    if ((await ipt(p.bin, ['-C', p.chain, ...r])).code !== 0) {
      complete = false;
      break;
    }
  }
  if (!complete || (await ipt(p.bin, ['-S', p.chain])).stdout.trim().split('\n').length !== p.rules.length + 1) {
    await must(p.bin, ['-F', p.chain]);
    for (const r of p.rules) await must(p.bin, ['-A', p.chain, ...r]);
  }
  // The jump goes first, so that no broader ACCEPT earlier in the hook lets bridge traffic through.
  if ((await ipt(p.bin, ['-C', p.hook, ...p.jump])).code !== 0) await must(p.bin, ['-I', p.hook, '1', ...p.jump]);
}

export async function installFirewall(cfg: NetConfig): Promise<void> {
  // The forward chain jumps to it: it must exist first (the driver fills it).
  if (!(await chainExists('iptables', tenancyChain(cfg)))) await must('iptables', ['-N', tenancyChain(cfg)]);
  for (const p of firewallPlan(cfg)) {
    try {
      await installChain(p);
    } catch (e) {
      throw new HangarError('unavailable', `installing firewall rules for ${cfg.bridge} failed: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
}

/** Removes the jump rules and chains; anything already gone is fine. */
export async function removeFirewall(cfg: NetConfig): Promise<void> {
  for (const p of firewallPlan(cfg)) {
    for (let i = 0; i < 16; i++) {
      if ((await ipt(p.bin, ['-D', p.hook, ...p.jump])).code !== 0) break;
    }
    if (await chainExists(p.bin, p.chain)) {
      await ipt(p.bin, ['-F', p.chain]);
      await must(p.bin, ['-X', p.chain]);
    }
  }
  await removeTenancy(cfg);
}
