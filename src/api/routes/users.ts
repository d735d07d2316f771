import { Hono } from 'hono';
import { z } from 'zod';
import { HangarError } from '../../lib/errors.js';
import { newToken, newUuid } from '../../lib/ids.js';
import type { ApiDeps, AppEnv } from '../context.js';
import { entriesEnvelope, type Entry } from '../envelope.js';
import { hashToken } from '../auth.js';
import { pathUuid, perItem, requireJson } from '../request.js';
import { oneOrMany } from '../schemas/common.js';

const createUserSchema = z.strictObject({ name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1-63 of a-z 0-9 . _ - starting with a letter or digit') });

/** Users and their quotas. Creating users is for the node's admin. */
export function userRoutes(deps: ApiDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  const quotas = async (uuid: string): Promise<Entry> => {
    const u = await deps.users.getUser(uuid);
    if (!u) throw new HangarError('not_found', `No user with UUID '${uuid}'`);
    const used = await deps.instances.usage(u);
    const L = deps.limits;
    const q = deps.quotas;
    // What bounds this user: their quotas, or for an admin (no quotas) the node's capacity.
    const hard = !q
      ? { instances: L.maxInstancesPerUser, liveVcpus: L.maxInstancesPerUser * L.maxVcpus, liveMemoryMb: L.maxInstancesPerUser * L.maxMemoryMb, registryBytes: 0 }
      : u.admin
        ? { instances: L.maxInstancesPerUser, liveVcpus: q.capacity.vcpus, liveMemoryMb: q.capacity.memoryMb, registryBytes: 0 }
        : { ...q.hard, instances: Math.min(q.hard.instances, L.maxInstancesPerUser) };
    const registryUsed = q?.registryBytes(u.uuid) ?? 0;
    return {
      status: 'success',
      uuid: u.uuid,
      used: { instances: used.instances, live_instances: used.liveInstances, live_vcpus: used.liveVcpus, live_memory_mb: used.liveMemoryMb, service_groups: 0, services: 0, volumes: 0, total_volume_mb: 0, registry_bytes: registryUsed },
      // registry_bytes 0 = not limited (admins).
      hard: { instances: hard.instances, live_instances: hard.instances, live_vcpus: hard.liveVcpus, live_memory_mb: hard.liveMemoryMb, service_groups: 0, services: 0, volumes: 0, total_volume_mb: 0, registry_bytes: hard.registryBytes },
      limits: { min_memory_mb: L.minMemoryMb, max_memory_mb: L.maxMemoryMb, min_volume_mb: 0, max_volume_mb: 0, min_autoscale_size: 0, max_autoscale_size: 0, min_vcpus: 1, max_vcpus: L.maxVcpus },
    };
  };

  app.get('/quotas', async (c) => c.json(entriesEnvelope('quotas', [await quotas(c.get('user').uuid)], c.get('startedUs'))));
  app.get('/:uuid/quotas', async (c) => {
    const uuid = pathUuid(c);
    const me = c.get('user');
    const entries = await perItem([{ uuid }], async () => {
      if (uuid !== me.uuid && !me.admin) throw new HangarError('not_found', `No user with UUID '${uuid}'`);
      return quotas(uuid);
    });
    return c.json(entriesEnvelope('quotas', entries, c.get('startedUs')));
  });

  app.post('/', async (c) => {
    const me = c.get('user');
    if (!me.admin) throw new HangarError('permission_denied', 'only the node admin can add users');
    const { items } = oneOrMany(createUserSchema, await requireJson(c));
    const entries = await deps.users.unitOfWork(async (tx) => {
      for (const i of items) {
        if (await tx.getUserByName(i.name)) throw new HangarError('already_exists', `name: a user named '${i.name}' already exists`, { field: 'name' });
      }
      const made: Entry[] = [];
      for (const i of items) {
        const token = newToken();
        const user = { uuid: newUuid(), name: i.name, admin: false, createdAt: new Date().toISOString() };
        await tx.createUser(user, hashToken(token));
        made.push({ status: 'success', uuid: user.uuid, name: user.name, token });
      }
      return made;
    });
    return c.json(entriesEnvelope('users', entries, c.get('startedUs')));
  });

  return app;
}
