/** The repository access rule (core/images/access.ts) over an in-memory directory. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageAccess } from '../../../src/core/images/access.js';
import type { ImageUse, RepositoryDirectory, RepositoryOwner } from '../../../src/core/images/ports.js';

const ADMIN = { uuid: 'u-admin', admin: true };
const ALICE = { uuid: 'u-alice', admin: false };
const BOB = { uuid: 'u-bob', admin: false };

function rule(o: { exists?: string[]; links?: Record<string, string[]>; uses?: ImageUse[] } = {}) {
  const owners = new Map<string, RepositoryOwner>();
  const dir: RepositoryDirectory = {
    owner: async (r) => owners.get(r),
    claim: async (r, rec) => {
      if (!owners.has(r)) owners.set(r, rec);
      return owners.get(r)!;
    },
    exists: async (r) => (o.exists ?? []).includes(r) || owners.has(r),
    blobRepos: async (d) => o.links?.[d] ?? [],
  };
  const users: Record<string, string> = { alice: ALICE.uuid, bob: BOB.uuid };
  return { owners, access: new ImageAccess({ directory: dir, userNamed: async (n) => users[n], usesOf: async () => o.uses ?? [] }) };
}

test('the first push claims a free name; others may then neither write nor read it', async () => {
  const { access, owners } = rule();
  await access.claim(ALICE, 'myapp');
  assert.deepEqual(owners.get('myapp'), { owner: ALICE.uuid, public: false });
  await assert.rejects(access.claim(BOB, 'myapp'), /belongs to another user/);
  assert.equal(await access.canRead(BOB, 'myapp'), false);
  assert.equal(await access.canRead(ALICE, 'myapp'), true);
  assert.equal(await access.canWrite(ADMIN, 'myapp'), true);
  assert.equal(await access.canRead(BOB, 'never-used'), true, 'nothing there to hide');
});

test("a namespace is its user's; the admin's push there records the user", async () => {
  const { access, owners } = rule();
  assert.equal(await access.canWrite(BOB, 'alice/x'), false);
  assert.equal(await access.canWrite(ALICE, 'alice/x'), true);
  await access.claim(ADMIN, 'alice/y');
  assert.deepEqual(owners.get('alice/y'), { owner: ALICE.uuid, public: false });
  assert.equal(await access.mayPullInto(BOB, 'alice/z'), false);
});

test('unowned repositories holding images are the admin\'s and public; what the admin pushes is public', async () => {
  const { access } = rule({ exists: ['hello'] });
  assert.equal(await access.canRead(BOB, 'hello'), true);
  assert.equal(await access.canWrite(BOB, 'hello'), false);
  assert.equal(await access.mayPullInto(BOB, 'hello'), true, 'the node\'s cache of remote images');
  await access.claim(ADMIN, 'published');
  assert.equal(await access.canRead(BOB, 'published'), true);
  assert.equal(await access.canWrite(BOB, 'published'), false);
  assert.equal(await access.mayPullInto(BOB, 'published'), false);
});

test("an image a user's instance runs is shared with them; blobs only from readable repositories", async () => {
  const { access } = rule({ links: { 'sha256:l': ['alice/app'] }, uses: [{ ref: 'alice/app:1', by: 'instance b', owner: BOB.uuid }] });
  await access.claim(ALICE, 'alice/app');
  assert.equal(await access.canRead(BOB, 'alice/app'), true);
  assert.equal(await access.canWrite(BOB, 'alice/app'), false);
  const carol = { uuid: 'u-carol', admin: false };
  assert.equal(await access.canRead(carol, 'alice/app'), false);
  assert.equal(await access.canUseBlob(carol, 'sha256:l', 'carol/x'), false);
  assert.equal(await access.canUseBlob(ALICE, 'sha256:l', 'alice/other'), true);
});

test('a pull with own credentials lands only where nobody else reads it, and makes the repository private to the puller', async () => {
  const { access, owners } = rule({ exists: ['library/hello'] });
  assert.equal(await access.claimForPrivatePull(ALICE, 'private/hello'), true, 'a free name');
  assert.deepEqual(owners.get('private/hello'), { owner: ALICE.uuid, public: false });
  assert.equal(await access.canRead(BOB, 'private/hello'), false);
  assert.equal(await access.canRead(ADMIN, 'private/hello'), true);
  assert.equal(await access.claimForPrivatePull(ALICE, 'private/hello'), true, 'again, into her own');
  assert.equal(await access.claimForPrivatePull(BOB, 'private/hello'), false, 'not into hers');
  assert.equal(await access.mayPullInto(BOB, 'private/hello'), false, 'nor anonymously');
  assert.equal(await access.claimForPrivatePull(BOB, 'library/hello'), false, 'not into the shared cache, which every user reads');
  assert.equal(owners.has('library/hello'), false);
  assert.equal(await access.claimForPrivatePull(ADMIN, 'library/hello'), false, 'the admin neither');
  assert.equal(await access.claimForPrivatePull(BOB, 'alice/x'), false, "not into another user's namespace");
  assert.equal(await access.claimForPrivatePull(ALICE, 'alice/x'), true, 'into her namespace');
  assert.deepEqual(owners.get('alice/x'), { owner: ALICE.uuid, public: false });
  await access.claim(ADMIN, 'published');
  assert.equal(await access.claimForPrivatePull(ADMIN, 'published'), false, 'not into a public repository');
});
