import { randomUUID } from 'node:crypto';
import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import type { FastifyInstance } from 'fastify';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, startRedis, stopInstance } from '../../scripts/infra-lib.mjs';
import type { Config } from '../src/config.js';
import { startGateway, testConfig } from './support/gateway.js';
import { startStub, type StubUpstream } from './support/processes.js';

const metricValue = (text: string, name: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};

describe('gateway rate limits', () => {
  let issuer: TestIssuer;
  let auth: StubUpstream;
  let task: StubUpstream;
  const apps: FastifyInstance[] = [];

  const config = (env: Record<string, string | number> = {}): Config =>
    testConfig({
      REDIS_URL: inject('infra').redisUrl,
      AUTH_URL: auth.url,
      TASK_URL: task.url,
      ANALYTICS_URL: task.url,
      JWKS_URL: issuer.jwksUrl,
      ...env,
    });
  const gateway = async (cfg: Config) => {
    const app = await startGateway(cfg);
    apps.push(app);
    return app;
  };
  const login = (app: FastifyInstance, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json', ...headers },
      payload: '{"email":"a@example.com","password":"x"}',
    });

  beforeAll(async () => {
    [issuer, auth, task] = await Promise.all([createTestIssuer(), startStub('auth'), startStub('task')]);
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await Promise.all([auth?.stop(), task?.stop(), issuer?.close()]);
  });

  it('when two gateway instances share Redis and 1,000 concurrent requests of one user arrive with a limit of 100, then exactly 100 pass', async () => {
    const shared = config({ RATE_LIMIT_API_PER_MINUTE: 100, REDIS_COMMAND_TIMEOUT_MS: 2000 });
    const a = await gateway(shared);
    const b = await gateway(shared);
    const clients: Pool[] = [];
    for (const app of [a, b]) {
      await app.listen({ host: '127.0.0.1', port: 0 });
      clients.push(
        new Pool(`http://127.0.0.1:${app.server.address() && (app.server.address() as { port: number }).port}`, { connections: 100 }),
      );
    }
    const token = await issuer.token(`user-${randomUUID()}`);
    const before = await task.served();
    try {
      const answers = await Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          const res = await clients[i % 2]!.request({ method: 'GET', path: '/tasks', headers: { authorization: `Bearer ${token}` } });
          await res.body.dump();
          return res;
        }),
      );
      const passed = answers.filter((r) => r.statusCode === 200);
      const refused = answers.filter((r) => r.statusCode === 429);
      expect(passed).toHaveLength(100);
      expect(refused).toHaveLength(900);
      expect(await task.served()).toBe(before + 100);
      for (const r of refused) {
        expect(r.headers['ratelimit-limit']).toBe('100');
        expect(r.headers['ratelimit-remaining']).toBe('0');
        expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      }
      const rejected = await Promise.all(
        [a, b].map(async (app) =>
          metricValue((await app.inject({ method: 'GET', url: '/metrics' })).body, 'gateway_rate_limit_rejections_total', 'bucket="user"'),
        ),
      );
      expect(rejected[0]! + rejected[1]!).toBe(900);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('when one client logs in more than 5 times a minute, then the sixth answers 429 with Retry-After and RateLimit headers', async () => {
    const app = await gateway(config());
    for (let i = 1; i <= 5; i++) {
      const res = await login(app);
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBe('5');
      expect(res.headers['ratelimit-remaining']).toBe(String(5 - i));
    }
    const sixth = await login(app);
    expect(sixth.statusCode).toBe(429);
    expect(sixth.json()).toEqual({
      code: 'GATEWAY_ERR_RATE_LIMITED',
      message: expect.stringMatching(/^too many requests; retry in \d+ (seconds?|minute)$/),
    });
    expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(0);
    expect(sixth.headers['ratelimit-remaining']).toBe('0');
    expect(sixth.headers['ratelimit-limit']).toBe('5');
    expect(sixth.headers['ratelimit-reset']).toBe(sixth.headers['retry-after']);
    // Register counts in a bucket of its own.
    const register = await app.inject({
      method: 'POST',
      url: '/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(register.statusCode).toBe(200);
  });

  it('when an untrusted peer varies X-Forwarded-For, then it still counts against its own address', async () => {
    const app = await gateway(config());
    for (let i = 1; i <= 5; i++) expect((await login(app, { 'x-forwarded-for': `203.0.113.${i}` })).statusCode).toBe(200);
    const spoofed = await login(app, { 'x-forwarded-for': '198.51.100.77' });
    expect(spoofed.statusCode).toBe(429);
  });

  it('when the peer is a trusted proxy, then X-Forwarded-For names the client: each client its own bucket, and that address goes upstream', async () => {
    const app = await gateway(config({ TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.0/8' }));
    const client = `203.0.113.${Math.floor(Math.random() * 200) + 1}`;
    for (let i = 1; i <= 5; i++) expect((await login(app, { 'x-forwarded-for': client })).statusCode).toBe(200);
    expect((await login(app, { 'x-forwarded-for': client })).statusCode).toBe(429);
    const another = await login(app, { 'x-forwarded-for': `${client.replace('203.0.113', '198.51.100')}, 10.1.2.3` });
    expect(another.statusCode).toBe(200);
    expect(another.json<{ headers: Record<string, string> }>().headers['x-forwarded-for']).toBe(client.replace('203.0.113', '198.51.100'));
  });

  it('when Redis is unreachable, then general routes keep serving, login and register answer 503 with Retry-After, and both recover with Redis', async () => {
    const port = await freePort();
    const redis = await startRedis({ port });
    try {
      const app = await gateway(config({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 200 }));
      const token = await issuer.token(`user-${randomUUID()}`);
      expect((await login(app)).statusCode).toBe(200);

      await stopInstance(redis);
      const tasks = await app.inject({ method: 'GET', url: '/tasks', headers: { authorization: `Bearer ${token}` } });
      expect(tasks.statusCode).toBe(200);
      expect(tasks.json<{ upstream: string }>().upstream).toBe('task');
      const jwks = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      expect(jwks.statusCode).toBe(200);
      for (const res of [
        await login(app),
        await app.inject({ method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json' }, payload: '{}' }),
      ]) {
        expect(res.statusCode).toBe(503);
        expect(res.json()).toEqual({ code: 'GATEWAY_ERR_RATE_LIMIT_UNAVAILABLE', message: expect.any(String) });
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
      // Still ready (the policy above answers for Redis), with Redis reported as failing.
      const ready = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json<{ checks: Record<string, { ok: boolean; required?: boolean }> }>().checks.redis).toMatchObject({ ok: false, required: false });
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metricValue(metrics, 'gateway_rate_limit_unavailable_total', 'bucket="login"')).toBe(1);
      expect(metricValue(metrics, 'gateway_rate_limit_unavailable_total', 'bucket="user"')).toBe(1);

      await startRedis({ port });
      await expect.poll(async () => (await login(app)).statusCode, { timeout: 15_000, interval: 250 }).toBe(200);
    } finally {
      await stopInstance(redis);
    }
  });
});
