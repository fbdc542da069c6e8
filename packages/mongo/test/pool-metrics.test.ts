import { randomUUID } from 'node:crypto';
import { createServiceApp } from '@taskmesh/service-kit';
import { metricValue } from '@taskmesh/service-kit/testing';
import { describe, expect, inject, it } from 'vitest';
import { mongoPlugin } from '../src/index.js';

describe('mongo connection-pool metrics', () => {
  it('when operations outnumber the pool, then /metrics shows them waiting, and all connections idle once they finish', async () => {
    const app = await createServiceApp({ service: 'pool-test', logLevel: false });
    await app.register(mongoPlugin, { uri: inject('infra').mongodbUri, dbName: `pool_${randomUUID().slice(0, 8)}`, maxPoolSize: 2 });
    await app.ready();
    try {
      let mostWaiting = 0;
      const waiting = app.metrics.getSingleMetric('mongodb_pool_waiting_checkouts')!;
      app.mongo.client.on('connectionCheckedOut', async () => {
        mostWaiting = Math.max(mostWaiting, (await waiting.get()).values[0]?.value ?? 0);
      });
      const things = app.mongo.db.collection('things');
      await Promise.all(Array.from({ length: 8 }, (_, i) => things.insertOne({ i })));

      expect(await metricValue(app, 'mongodb_pool_max_connections')).toBe(2);
      expect(await metricValue(app, 'mongodb_pool_connections', { state: 'in_use' })).toBe(0);
      expect(await metricValue(app, 'mongodb_pool_connections', { state: 'idle' })).toBeGreaterThanOrEqual(1);
      expect(await metricValue(app, 'mongodb_pool_connections', { state: 'idle' })).toBeLessThanOrEqual(2);
      expect(await metricValue(app, 'mongodb_pool_waiting_checkouts')).toBe(0);
      expect(mostWaiting).toBeGreaterThan(0);
      await app.mongo.db.dropDatabase();
    } finally {
      await app.close();
    }
  });

  it('when pool metrics are turned off, then /metrics has no pool series', async () => {
    const app = await createServiceApp({ service: 'pool-test', logLevel: false });
    await app.register(mongoPlugin, { uri: inject('infra').mongodbUri, dbName: 'unused', poolMetrics: false });
    await app.ready();
    try {
      expect((await app.inject({ method: 'GET', url: '/metrics' })).body).not.toMatch(/^mongodb_pool_/m);
    } finally {
      await app.close();
    }
  });
});
