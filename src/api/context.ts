import type { NodeCapacity, UserQuotas } from '../core/instances/admission.js';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { InstanceService } from '../core/instances/service.js';
import type { ServiceGroupService } from '../core/services/service.js';
import type { User, UserStore } from '../core/ports/store.js';
import type { InstanceLimits } from '../core/instances/input.js';
import type { ImageCatalog } from '../core/ports/images.js';

/** What the API needs from the rest of the node. */
export interface ApiDeps {
  instances: InstanceService;
  users: UserStore;
  limits: InstanceLimits;
  /** Public base URL of this node, for /v1/metros. */
  baseUrl: string;
  version: string;
  /** Images the node holds, pins and removal; without it the images API answers 503. */
  images?: ImageCatalog;
  /** Service groups (/v1/services); without it that API answers 503 and instances cannot name a group. */
  services?: ServiceGroupService;
  /** Per-user quotas and node capacity (/v1/users/quotas); without it the hard values come from `limits`. */
  quotas?: QuotaView;
}

export interface QuotaView {
  hard: UserQuotas;
  capacity: NodeCapacity;
  /** Bytes the user pushed to the node's registry. */
  registryBytes(userUuid: string): number;
}

export interface AppEnv {
  Bindings: { incoming?: IncomingMessage & { hangarGetBody?: Buffer } };
  Variables: { user: User; startedUs: number };
}

export type Ctx = Context<AppEnv>;
