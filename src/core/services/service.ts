import { HangarError, invalid } from '../../lib/errors.js';
import { newUuid, randomName } from '../../lib/ids.js';
import type { Clock } from '../ports/clock.js';
import type { GroupListOptions, GroupMember, ServiceGroupRepository, ServiceGroupStore, User } from '../ports/store.js';
import type { DomainInput, GroupInput, GroupRef, ServiceGroup, ServiceInput } from './group.js';
import { checkDomains, checkGroup, checkLimits, checkService, fqdnOf, MAX_DOMAINS, MAX_SERVICES, DEFAULT_HARD_LIMIT, DEFAULT_SOFT_LIMIT } from './rules.js';

/** A PATCH of one property, its value already shaped by the API. */
export type GroupUpdate =
  | { prop: 'services'; op: 'set' | 'add'; services: ServiceInput[] }
  | { prop: 'services'; op: 'del'; ports?: number[] }
  | { prop: 'domains'; op: 'set' | 'add'; domains: DomainInput[] }
  | { prop: 'domains'; op: 'del'; names?: string[] }
  | { prop: 'soft_limit' | 'hard_limit'; op: 'set'; value: number }
  | { prop: 'soft_limit' | 'hard_limit'; op: 'del' };

/** `service_group` of an instance create: an existing group, or an inline definition. */
export type InstanceGroupInput = { ref: GroupRef } | { define: Omit<GroupInput, 'name'> };

/** A checked `service_group`, ready to be attached inside the create's unit of work. */
export type PreparedGroup = { ref: GroupRef } | { group: ServiceGroup };

export interface ServiceGroupServiceDeps {
  store: ServiceGroupStore;
  clock: Clock;
  /** The node's domain (HANGAR_DOMAIN): a domain name without a trailing dot goes under it. */
  domain: string;
}

const notFound = (ref: GroupRef): HangarError =>
  new HangarError('not_found', ref.uuid !== undefined ? `No service group with UUID '${ref.uuid}'` : `No service group with name '${ref.name}'`);

/**
 * What users can do with service groups. Every call is on behalf of a user,
 * who sees only their own groups (another user's answers not found). A
 * domain belongs to one group of one user; who holds a taken one is never
 * said.
 */
export class ServiceGroupService {
  constructor(private readonly d: ServiceGroupServiceDeps) {}

  get domain(): string {
    return this.d.domain;
  }

  private async lookup(repo: ServiceGroupRepository, user: User, ref: GroupRef): Promise<ServiceGroup> {
    const g = ref.uuid !== undefined ? await repo.getServiceGroup(ref.uuid) : await repo.getServiceGroupByName(ref.name);
    if (!g || g.owner !== user.uuid) throw notFound(ref);
    return g;
  }

  find(user: User, ref: GroupRef): Promise<ServiceGroup> {
    return this.lookup(this.d.store, user, ref);
  }

  /** A group by uuid without an owner check: for showing the group an instance of the same user names. */
  byUuid(uuid: string): Promise<ServiceGroup | undefined> {
    return this.d.store.getServiceGroup(uuid);
  }

  members(group: ServiceGroup): Promise<GroupMember[]> {
    return this.d.store.groupMembers(group.uuid);
  }

  list(user: User, opts: Omit<GroupListOptions, 'owner'>): Promise<ServiceGroup[]> {
    return this.d.store.listServiceGroups({ ...opts, owner: user.uuid });
  }

  private newGroup(user: User, input: GroupInput, persistent: boolean, prefix: string): ServiceGroup {
    const c = checkGroup(input, this.d.domain, prefix);
    const name = c.name ?? randomName();
    return {
      uuid: newUuid(),
      name,
      owner: user.uuid,
      createdAt: this.d.clock.now().toISOString(),
      persistent,
      services: c.services,
      // An inline group without domains is reachable at a name made for it, as on UKC.
      domains: c.domains.length > 0 || persistent ? c.domains : [{ fqdn: fqdnOf(name, this.d.domain) }],
      softLimit: c.softLimit,
      hardLimit: c.hardLimit,
    };
  }

  /** Refuses domains another group holds, naming the first as the request did. */
  private async checkFree(repo: ServiceGroupRepository, g: ServiceGroup, field: (i: number) => string): Promise<void> {
    const taken = new Set(await repo.takenDomains(g.domains.map((d) => d.fqdn), g.uuid));
    const i = g.domains.findIndex((d) => taken.has(d.fqdn));
    if (i >= 0) throw new HangarError('already_exists', `${field(i)}: the domain '${g.domains[i]!.fqdn}' is taken`, { field: field(i) });
  }

  private async insert(repo: ServiceGroupRepository, g: ServiceGroup, prefix: string): Promise<void> {
    if (await repo.getServiceGroupByName(g.name)) throw new HangarError('already_exists', `${prefix}name: a service group named '${g.name}' already exists`, { field: `${prefix}name` });
    await this.checkFree(repo, g, (i) => `${prefix}domains[${i}].name`);
    await repo.insertServiceGroup(g);
  }

  /** A persistent group (POST /v1/services). Nothing is stored unless every rule passes. */
  async create(user: User, input: GroupInput): Promise<ServiceGroup> {
    const g = this.newGroup(user, input, true, '');
    await this.d.store.unitOfWork((tx) => this.insert(tx, g, ''));
    return g;
  }

  /** Checks an instance's `service_group` before anything is made. */
  prepare(user: User, input: InstanceGroupInput): PreparedGroup {
    if ('ref' in input) return { ref: input.ref };
    return { group: this.newGroup(user, input.define, false, 'service_group.') };
  }

  /** Inside the instance create's unit of work: the existing group, or the ephemeral one inserted. */
  async attach(tx: ServiceGroupRepository, user: User, p: PreparedGroup): Promise<ServiceGroup> {
    if ('ref' in p) {
      return this.lookup(tx, user, p.ref).catch((e: unknown) => {
        if (e instanceof HangarError && e.kind === 'not_found') throw invalid('service_group', e.message);
        throw e;
      });
    }
    await this.insert(tx, p.group, 'service_group.');
    return p.group;
  }

  async update(user: User, ref: GroupRef, u: GroupUpdate): Promise<ServiceGroup> {
    return this.d.store.unitOfWork(async (tx) => {
      const g = await this.lookup(tx, user, ref);
      const next = this.applyUpdate(g, u);
      if (u.prop === 'domains') await this.checkFree(tx, next, (i) => `value[${Math.max(0, i - (u.op === 'add' ? g.domains.length : 0))}].name`);
      await tx.updateServiceGroup(next);
      return next;
    });
  }

  private applyUpdate(g: ServiceGroup, u: GroupUpdate): ServiceGroup {
    switch (u.prop) {
      case 'services': {
        if (u.op === 'del') {
          const services = u.ports === undefined ? [] : g.services.filter((s) => !u.ports!.includes(s.port));
          if (services.length === 0) throw invalid('value', 'a service group keeps at least one service');
          return { ...g, services };
        }
        // The new items are checked under `value` (what the request named), then the result for repeated ports.
        const fresh = u.services.map((s, i) => checkService(s, `value[${i}]`));
        const kept = u.op === 'set' ? [] : g.services;
        const ports = new Set(kept.map((s) => s.port));
        fresh.forEach((s, i) => {
          if (ports.has(s.port)) throw invalid(`value[${i}].port`, `port ${s.port} is already a service of this group`);
          ports.add(s.port);
        });
        const services = [...kept, ...fresh];
        if (services.length === 0) throw invalid('value', 'a service group keeps at least one service');
        if (services.length > MAX_SERVICES) throw invalid('value', `at most ${MAX_SERVICES} services`);
        return { ...g, services };
      }
      case 'domains': {
        if (u.op === 'del') {
          const drop = new Set((u.names ?? []).map((n) => fqdnOf(n, this.d.domain)));
          return { ...g, domains: u.names === undefined ? [] : g.domains.filter((d) => !drop.has(d.fqdn)) };
        }
        const fresh = checkDomains(u.domains, this.d.domain, 'value');
        const all = u.op === 'set' ? fresh : [...g.domains, ...fresh];
        if (all.length > MAX_DOMAINS) throw invalid('value', `at most ${MAX_DOMAINS} domains`);
        const seen = new Set<string>();
        all.forEach((d, i) => {
          if (seen.has(d.fqdn)) throw invalid(`value[${u.op === 'set' ? i : i - g.domains.length}].name`, `'${d.fqdn}' is already a domain of this group`);
          seen.add(d.fqdn);
        });
        return { ...g, domains: all };
      }
      case 'soft_limit':
      case 'hard_limit': {
        const key = u.prop === 'soft_limit' ? 'softLimit' : 'hardLimit';
        const next: ServiceGroup = { ...g };
        next[key] = u.op === 'set' ? u.value : key === 'softLimit' ? DEFAULT_SOFT_LIMIT : DEFAULT_HARD_LIMIT;
        try {
          checkLimits(next.softLimit, next.hardLimit);
        } catch (e) {
          if (e instanceof HangarError) throw invalid('value', e.message);
          throw e;
        }
        return next;
      }
    }
  }

  /** Deletes a group that no instance is in. */
  async remove(user: User, ref: GroupRef): Promise<ServiceGroup> {
    return this.d.store.unitOfWork(async (tx) => {
      const g = await this.lookup(tx, user, ref);
      const members = await tx.groupMembers(g.uuid);
      if (members.length > 0) {
        throw new HangarError('failed_precondition', `service group '${g.name}' still has ${members.length} instance(s); delete them first`);
      }
      await tx.deleteServiceGroup(g.uuid);
      return g;
    });
  }
}
