import { randomUUID } from 'node:crypto';
import { MongoClient, MongoNetworkError, type Collection, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Effect } from '../src/domain/stats/effects.js';
import { GlobalWritePendingError, StatsRepository, eventDigest, type Position } from '../src/domain/stats/stats-repository.js';

const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe('the statistics store', () => {
  let client: MongoClient;
  let db: Db;

  beforeAll(async () => {
    client = new MongoClient(inject('infra').mongodbUri);
    await client.connect();
    db = client.db(`analytics_repo_${randomUUID().slice(0, 8)}`);
  });

  afterAll(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  const user = () => randomUUID().replace(/-/g, '').slice(0, 24);
  const at = (topic: string, partition: number, offset: number): Position => ({ topic, partition, offset: String(offset) });
  const created = (userId: string): Effect => ({ userId, counters: { tasksCreated: 1, tasksOpen: 1 }, createdDay: day(Date.now()) });

  /** The same database, except that the global collection's next write fails as if the connection dropped. */
  function failingGlobalWriteOnce(): Db {
    let armed = true;
    return new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'collection') return Reflect.get(target, prop, receiver);
        return (name: string) => {
          const collection = target.collection(name);
          if (name !== 'global_stats') return collection;
          return new Proxy(collection, {
            get(c, p, r) {
              if (p === 'findOneAndUpdate' && armed) {
                return async () => {
                  armed = false;
                  throw new MongoNetworkError('connection closed');
                };
              }
              const v = Reflect.get(c, p, r) as unknown;
              return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(c) : v;
            },
          }) as Collection;
        };
      },
    });
  }

  it('when the process fails between the user write and the global write, then the redelivery completes the global write once and a copy elsewhere changes nothing', async () => {
    const topic = `crash-${randomUUID().slice(0, 8)}`;
    const u = user();
    const eventId = randomUUID();
    const flaky = new StatsRepository(failingGlobalWriteOnce());
    // Never dead-lettered: only this message's redelivery can add the global share.
    await expect(flaky.apply(eventId, created(u), at(topic, 0, 7))).rejects.toThrow(GlobalWritePendingError);

    const repo = new StatsRepository(db);
    expect((await repo.userStats(u)).tasksCreated).toBe(1);
    const before = (await db.collection('global_stats').findOne({ _id: `${topic}/0` as never })) as { tasksCreated?: number } | null;
    expect(before?.tasksCreated ?? 0).toBe(0);

    expect(await repo.apply(eventId, created(u), at(topic, 0, 7))).toBe('redelivered');
    expect(await repo.apply(eventId, created(u), at(topic, 0, 7))).toBe('redelivered');
    expect(await repo.apply(eventId, created(u), at(topic, 1, 3))).toBe('duplicate');
    expect(await repo.apply(eventId, created(u), at(topic, 0, 9))).toBe('duplicate');

    expect((await repo.userStats(u)).tasksCreated).toBe(1);
    expect(await db.collection('global_stats').findOne({ _id: `${topic}/0` as never })).toMatchObject({
      offset: 7,
      tasksCreated: 1,
      tasksOpen: 1,
    });
    expect(await db.collection('global_stats').findOne({ _id: `${topic}/1` as never })).toBeNull();
  });

  it('when more events arrive than the dedup window holds, then the record is cut back to the window and recent copies are still recognised', async () => {
    const repo = new StatsRepository(db, { dedupWindow: 10 });
    const u = user();
    const ids = Array.from({ length: 70 }, () => randomUUID());
    for (const [i, id] of ids.entries()) expect(await repo.apply(id, created(u), at('window', 0, i))).toBe('applied');

    const doc = (await db.collection('user_stats').findOne({ _id: u as never })) as { appliedIds: string[]; appliedAt: string[] } | null;
    expect(doc!.appliedIds.length).toBeLessThanOrEqual(15);
    expect(doc!.appliedIds.length).toBeGreaterThanOrEqual(10);
    expect(doc!.appliedAt.length).toBe(doc!.appliedIds.length);
    expect(doc!.appliedIds).toEqual(ids.slice(-doc!.appliedIds.length).map(eventDigest));
    expect(await repo.apply(ids.at(-1)!, created(u), at('window', 1, 0))).toBe('duplicate');
    expect((await repo.userStats(u)).tasksCreated).toBe(70);
  });

  it('when events for one user arrive from several partitions at once, then none is lost (each user document is written by one at a time)', async () => {
    const repo = new StatsRepository(db);
    const u = user();
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => repo.apply(randomUUID(), created(u), at('parallel', i % 3, i))),
    );
    expect(outcomes.every((o) => o === 'applied')).toBe(true);
    expect((await repo.userStats(u)).tasksCreated).toBe(30);
    expect((await repo.userStats(u)).tasksOpen).toBe(30);
  });

  it('when a day leaves the 30-day window, then its counter is dropped on the next write and no longer shown', async () => {
    const start = Date.parse('2026-03-01T12:00:00Z');
    let now = start;
    const repo = new StatsRepository(db, { now: () => new Date(now) });
    const u = user();
    const completion = (ms: number): Effect => ({
      userId: u,
      counters: { tasksCompleted: 1, completionTimeMsTotal: 1000, completionCount: 1 },
      completedDay: day(ms),
    });
    await repo.apply(randomUUID(), completion(start), at('days', 0, 1));
    expect((await repo.userStats(u)).completedPerDay.at(-1)).toEqual({ date: '2026-03-01', count: 1 });

    now = start + 40 * DAY;
    await repo.apply(randomUUID(), completion(now), at('days', 0, 2));
    const doc = (await db.collection('user_stats').findOne({ _id: u as never })) as { completedPerDay: Record<string, number> } | null;
    expect(doc!.completedPerDay).toEqual({ [day(now)]: 1 });
    const stats = await repo.userStats(u);
    expect(stats.tasksCompleted).toBe(2);
    expect(stats.completedPerDay.filter((d) => d.count > 0)).toEqual([{ date: day(now), count: 1 }]);
    expect(
      ((await db.collection('global_stats').findOne({ _id: 'days/0' as never })) as { completedPerDay: Record<string, number> } | null)!
        .completedPerDay,
    ).toEqual({
      [day(now)]: 1,
    });
  });
  it('when a micro-batch is applied, then each user gets one write and each partition one; its redelivery, a batch overlapping it and a failed global write count nothing twice', async () => {
    const topic = `batch-${randomUUID().slice(0, 8)}`;
    const [a, b] = [user(), user()];
    const repo = new StatsRepository(db);
    const item = (userId: string, offset: number, eventId = randomUUID()) => ({
      eventId,
      effect: created(userId),
      at: at(topic, 0, offset),
    });
    const batch = [item(a, 10), item(b, 11), item(a, 12)];
    const writes: string[] = [];
    const spy = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'collection') return Reflect.get(target, prop, receiver);
        return (name: string) =>
          new Proxy(target.collection(name), {
            get(c, p, r) {
              const v = Reflect.get(c, p, r) as unknown;
              if (typeof v !== 'function') return v;
              return (...args: unknown[]) => {
                if (p === 'findOneAndUpdate' || p === 'updateOne') writes.push(`${name}.${String(p)}`);
                return (v as (...a: unknown[]) => unknown).apply(c, args);
              };
            },
          });
      },
    });
    expect(await new StatsRepository(spy).applyBatch(batch)).toEqual(['applied', 'applied', 'applied']);
    expect(writes.sort()).toEqual(['global_stats.findOneAndUpdate', 'user_stats.findOneAndUpdate', 'user_stats.findOneAndUpdate']);

    // The same messages again (a crash before the commit), and a batch that overlaps them.
    expect(await repo.applyBatch(batch)).toEqual(['redelivered', 'redelivered', 'redelivered']);
    const next = [batch[2]!, item(b, 13)];
    expect(await repo.applyBatch(next)).toEqual(['redelivered', 'applied']);
    // A copy of a's first event at another offset, and one event twice within a batch.
    const twice = item(a, 15);
    expect(await repo.applyBatch([{ ...batch[0]!, at: at(topic, 0, 14) }, twice, { ...twice, at: at(topic, 0, 16) }])).toEqual([
      'duplicate',
      'applied',
      'duplicate',
    ]);
    expect((await repo.userStats(a)).tasksCreated).toBe(3);
    expect((await repo.userStats(b)).tasksCreated).toBe(2);
    const global = await db.collection('global_stats').findOne({ _id: `${topic}/0` as never });
    expect(global).toMatchObject({ tasksCreated: 5, offset: 15 });

    // The global write fails after the user writes: only the redelivery adds the global share, once.
    const lost = [item(a, 20), item(b, 21)];
    await expect(new StatsRepository(failingGlobalWriteOnce()).applyBatch(lost)).rejects.toBeInstanceOf(GlobalWritePendingError);
    expect(await repo.applyBatch(lost)).toEqual(['redelivered', 'redelivered']);
    expect(await repo.applyBatch(lost)).toEqual(['redelivered', 'redelivered']);
    expect(await db.collection('global_stats').findOne({ _id: `${topic}/0` as never })).toMatchObject({ tasksCreated: 7, offset: 21 });
    expect((await repo.userStats(a)).tasksCreated).toBe(4);
  });
});
