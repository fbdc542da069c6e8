import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedis, stopInstance } from '../../../scripts/infra-lib.mjs';
import type { Config } from '../src/config.js';
import { type AnalyticsHarness, TestProducer, analyticsHarness, hex24, metricValue, taskCreated } from './harness.js';

/** Each test file's app on its own Redis or the shared one, and the three reads a test makes. */
function reads(h: () => AnalyticsHarness) {
  const me = async (user: string) =>
    h().app.inject({ method: 'GET', url: '/analytics/me', headers: { authorization: `Bearer ${await h().issuer.token(user)}` } });
  /** Changes the stored counters behind the service's back: what a read then answers tells where it came from. */
  const setStored = (user: string, tasksCreated: number) =>
    h()
      .app.mongo.db.collection('user_stats')
      .updateOne({ _id: user as never }, { $set: { tasksCreated } });
  const hits = () => metricValue(h().app, 'cache_reads_total', { cache: 'user_stats', outcome: 'hit' });
  return { me, setStored, hits };
}

describe('the statistics cache', () => {
  let h: AnalyticsHarness;
  let config: Config;
  let producer: TestProducer;
  const { me, setStored, hits } = reads(() => h);

  beforeAll(async () => {
    h = await analyticsHarness();
    ({ config, producer } = h);
  });
  afterAll(() => h?.close());

  it('when statistics were read once, then the next read is served from Redis without the store, and the hit is counted', async () => {
    const user = hex24();
    await producer.send([taskCreated(user)]);
    await producer.drained(config);
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 1 });

    await setStored(user, 40);
    const before = await hits();
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 1 });
    expect(await hits()).toBe(before + 1);
  });

  it("when the consumer applies an event of that user, then the next read is fresh (the store's value, not the cached one)", async () => {
    const user = hex24();
    await producer.send([taskCreated(user)]);
    await producer.drained(config);
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 1 });
    await setStored(user, 40);
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 1 });

    await producer.send([taskCreated(user), taskCreated(user)]);
    await producer.drained(config);
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 42, tasksOpen: 3 });
  });

  it('when a user without events was read (and cached as zeros), then their first event still shows on the next read', async () => {
    const user = hex24();
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 0 });
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 0 });
    await producer.send([taskCreated(user)]);
    await producer.drained(config);
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 1 });
  });
});

describe('the statistics cache with its Redis stopped', () => {
  let h: AnalyticsHarness;
  let config: Config;
  let producer: TestProducer;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const { me, setStored } = reads(() => h);

  beforeAll(async () => {
    redis = await startRedis({ port: await freePort() });
    h = await analyticsHarness({ env: { REDIS_URL: redis.url } });
    ({ config, producer } = h);
  });
  afterAll(async () => {
    await h?.close();
    await stopInstance(redis);
  });

  it('when Redis stops, then /analytics/me still answers 200 from the store without delay, events are still applied, the outage is counted, and readiness stays 200', async () => {
    const user = hex24();
    await producer.send([taskCreated(user)]);
    await producer.drained(config);
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 1 });

    await stopInstance(redis);
    await setStored(user, 40);
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) {
      const res = await me(user);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ tasksCreated: 40 });
    }
    expect(performance.now() - t0).toBeLessThan(1000);

    await producer.send([taskCreated(user)]);
    await producer.drained(config);
    expect((await me(user)).json()).toMatchObject({ tasksCreated: 41 });
    expect(await metricValue(h.app, 'cache_reads_total', { cache: 'user_stats', outcome: 'unavailable' })).toBe(6);
    expect(await metricValue(h.app, 'cache_errors_total', { cache: 'user_stats', op: 'invalidate' })).toBeGreaterThanOrEqual(1);

    const ready = await h.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ checks: { redis: { ok: false } } });
  });
});
