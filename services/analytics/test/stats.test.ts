import type { TestIssuer } from '@taskmesh/access-token/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { type AnalyticsHarness, TestProducer, analyticsHarness, expectStatsToMatch, metricValue } from './harness.js';
import { mixedWorkload } from './workload.js';

describe('statistics from a burst of events', () => {
  let h: AnalyticsHarness;
  let issuer: TestIssuer;
  let config: Config;
  let app: FastifyInstance;
  let producer: TestProducer;
  const workload = mixedWorkload({ users: 40, events: 1000, seed: 7 });

  beforeAll(async () => {
    h = await analyticsHarness();
    ({ issuer, config, producer, app } = h);
  });
  afterAll(() => h?.close());

  it('when 1,000 mixed events for 40 users arrive, then every user and the overview equal the reference computed from the events', async () => {
    expect(workload.events.length).toBe(1000);
    expect(new Set(workload.events.map((e) => e.type)).size).toBe(5);
    await producer.send(workload.events);
    await producer.drained(config);

    await expectStatsToMatch(app, issuer, workload.reference);
    expect(await metricValue(app, 'analytics_events_processed_total', { outcome: 'applied' })).toBe(1000);
    expect(await metricValue(app, 'analytics_dedup_hits_total')).toBe(0);
  });

  it('when the same 1,000 events are sent again, then nothing changes and every one counts as a dedup hit', async () => {
    await producer.send(workload.events);
    await producer.drained(config);

    await expectStatsToMatch(app, issuer, workload.reference);
    expect(await metricValue(app, 'analytics_events_processed_total', { outcome: 'applied' })).toBe(1000);
    expect(await metricValue(app, 'analytics_events_processed_total', { outcome: 'duplicate' })).toBe(1000);
    expect(await metricValue(app, 'analytics_dedup_hits_total')).toBe(1000);
  });

  it('when the same events are replayed through the retry topic, then nothing changes either', async () => {
    const sample = workload.events.slice(0, 100);
    await producer.producer.send(
      `${config.KAFKA_GROUP_ID}.retry`,
      sample.map((e) => ({ key: e.key, value: e })),
    );
    await producer.drained(config);
    await expectStatsToMatch(app, issuer, workload.reference);
    expect(await metricValue(app, 'analytics_dedup_hits_total')).toBe(1100);
  });
});
