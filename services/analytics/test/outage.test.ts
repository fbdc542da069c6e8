import type { TestIssuer } from '@taskmesh/access-token/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateMongo } from '../../../test/private-mongo.js';
import type { Config } from '../src/config.js';
import { readDeadLetters } from '../src/events/dead-letters.js';
import { type AnalyticsHarness, TestProducer, analyticsHarness, hex24, metricValue, taskCreated, topicsOf } from './harness.js';

describe('when the statistics store is down', () => {
  let h: AnalyticsHarness;
  let issuer: TestIssuer;
  let store: PrivateMongo;
  let config: Config;
  let app: FastifyInstance;
  let producer: TestProducer;

  beforeAll(async () => {
    store = await PrivateMongo.start();
    h = await analyticsHarness({ env: { MONGODB_URI: store.uri } });
    ({ issuer, config, producer, app } = h);
  });
  afterAll(async () => {
    await h?.close();
    await store?.close();
  });

  it('then events wait uncommitted instead of being dead-lettered, readiness says so, and they are applied once when it is back', async () => {
    const user = hex24();
    const token = await issuer.token(user);
    await producer.send([taskCreated(user)]);
    await producer.drained(config);

    await store.stop();
    await producer.send([taskCreated(user), taskCreated(user)]);
    await expect
      .poll(() => metricValue(app, 'analytics_events_processed_total', { outcome: 'error' }), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(1);
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.mongo.ok).toBe(false);
    const me = await app.inject({ method: 'GET', url: '/analytics/me', headers: { authorization: `Bearer ${token}` } });
    expect(me.statusCode).toBe(503);
    expect(me.json()).toMatchObject({ code: 'ANALYTICS_ERR_STORE_UNAVAILABLE' });

    await store.restart();
    await producer.drained(config, 100_000);

    const after = await app.inject({ method: 'GET', url: '/analytics/me', headers: { authorization: `Bearer ${token}` } });
    expect(after.json()).toMatchObject({ tasksCreated: 3, tasksOpen: 3 });
    expect(await metricValue(app, 'analytics_events_processed_total', { outcome: 'applied' })).toBe(3);
    expect(await metricValue(app, 'analytics_dead_letters_total')).toBe(0);
    expect(await readDeadLetters(producer.kafka, topicsOf(config).deadLetters)).toEqual([]);
  });
});
