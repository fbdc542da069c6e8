import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedis, stopInstance } from '../../../scripts/infra-lib.mjs';
import { ADMIN_EMAIL, bearer, login, metricValue, register, startApp, stopApp, testConfig } from './harness.js';

const me = (app: FastifyInstance, token: string) => app.inject({ method: 'GET', url: '/auth/me', headers: bearer(token) });

describe('the profile cache', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(() => stopApp(app));

  it('when a profile was read once, then the next read is served from Redis without the store (a profile removed behind its back is still answered), and the hit is counted', async () => {
    const user = await register(app);
    const { accessToken } = await login(app, user.email);
    const first = await me(app, accessToken);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual(user);

    await app.mongo.db.collection('users_by_id').deleteOne({ _id: user.id as never });
    await app.mongo.db.collection('users').deleteOne({ _id: user.id as never });
    const hits = await metricValue(app, 'cache_reads_total', { cache: 'profile', outcome: 'hit' });
    const second = await me(app, accessToken);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual(user);
    expect(await metricValue(app, 'cache_reads_total', { cache: 'profile', outcome: 'hit' })).toBe(hits + 1);
  });

  it('when a cached profile is an admin email, then the role still comes from the configuration of the serving instance', async () => {
    const admin = await register(app, ADMIN_EMAIL);
    const { accessToken } = await login(app, ADMIN_EMAIL);
    await me(app, accessToken);
    expect((await me(app, accessToken)).json()).toMatchObject({ id: admin.id, role: 'admin' });

    // Another instance on the same database and Redis, configured without that admin: its hit says user.
    const other = await startApp(testConfig({ MONGODB_DB: app.mongo.db.databaseName, ADMIN_EMAILS: 'nobody@admin.example' }));
    try {
      expect((await me(other, accessToken)).json()).toMatchObject({ id: admin.id, role: 'user' });
    } finally {
      await stopApp(other, false);
    }
  });
});

describe('the profile cache with its Redis stopped', () => {
  let app: FastifyInstance;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    redis = await startRedis({ port: await freePort() });
    app = await startApp(testConfig({ REDIS_URL: redis.url }));
  });
  afterAll(async () => {
    await stopApp(app);
    await stopInstance(redis);
  });

  it('when Redis stops, then /auth/me still answers 200 from the store without delay, the outage is counted, and readiness stays 200', async () => {
    const user = await register(app);
    const { accessToken } = await login(app, user.email);
    expect((await me(app, accessToken)).statusCode).toBe(200);

    await stopInstance(redis);
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) {
      const res = await me(app, accessToken);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(user);
    }
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await metricValue(app, 'cache_reads_total', { cache: 'profile', outcome: 'unavailable' })).toBe(5);

    // A store read, not Redis: a profile the store no longer has is not found.
    await app.mongo.db.collection('users_by_id').deleteOne({ _id: user.id as never });
    expect((await me(app, accessToken)).statusCode).toBe(404);

    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ checks: { redis: { ok: false } } });
  });
});
