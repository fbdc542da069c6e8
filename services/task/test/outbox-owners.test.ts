import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OutboxOwners, type OwnerMarker } from '../src/domain/outbox/outbox-owners.js';
import { taskHarness, type TaskHarness } from './harness.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('the outbox markers change stream', () => {
  let h: TaskHarness;
  let owners: OutboxOwners;

  beforeAll(async () => {
    h = await taskHarness(inject('infra'));
    owners = new OutboxOwners(h.client.db(h.config.MONGODB_DB).collection<OwnerMarker>('outbox_owners'));
  });
  afterAll(() => h?.close());

  it('when writers touch markers, then the watch fires for each touch and not for a relay taking or giving back a lease', async () => {
    let changes = 0;
    const watch = owners.watchTouches(() => changes++, silent);
    try {
      await expect.poll(() => watch.active, { timeout: 10_000 }).toBe(true);
      const owner = `user-${randomUUID()}`;
      await owners.touch(owner); // insert
      await expect.poll(() => changes, { timeout: 10_000 }).toBe(1);

      const marker = (await owners.claim(owner, 'relay-1', new Date(Date.now() + 1), 30_000))!;
      await owners.releaseDone([{ marker, sawNothing: false, scanStart: new Date(), more: false }], 'relay-1', 500);
      await owners.touch(owner); // update of touchedAt
      // Change events arrive in order: had the lease updates fired, they would come before this one.
      await expect.poll(() => changes, { timeout: 10_000 }).toBe(2);
      await owners.retouch(owner);
      await expect.poll(() => changes, { timeout: 10_000 }).toBe(3);
    } finally {
      await watch.close();
    }
  });
});
