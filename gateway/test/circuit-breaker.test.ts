import { randomUUID } from 'node:crypto';
import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../scripts/infra-lib.mjs';
import { startGateway, testConfig } from './support/gateway.js';
import { startStub, type StubUpstream } from './support/processes.js';

const breakerState = async (app: FastifyInstance, upstream: string) => {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith('gateway_circuit_breaker_state{') && l.includes(`upstream="${upstream}"`));
  return Number(line?.split(' ').pop());
};

describe('gateway circuit breakers', () => {
  let issuer: TestIssuer;
  let auth: StubUpstream;
  let token: string;
  const stubs: StubUpstream[] = [];
  const apps: FastifyInstance[] = [];

  const gateway = async (taskUrl: string, env: Record<string, string | number>) => {
    const app = await startGateway(
      testConfig({
        REDIS_URL: inject('infra').redisUrl,
        AUTH_URL: auth.url,
        TASK_URL: taskUrl,
        ANALYTICS_URL: auth.url,
        JWKS_URL: issuer.jwksUrl,
        RATE_LIMIT_API_PER_MINUTE: 10_000,
        ...env,
      }),
    );
    apps.push(app);
    return app;
  };
  const stub = async (port?: number) => {
    const s = await startStub('task', port);
    stubs.push(s);
    return s;
  };
  const getTask = (app: FastifyInstance, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: '/tasks/t-1', headers: { authorization: `Bearer ${token}`, ...headers } });

  beforeAll(async () => {
    [issuer, auth] = await Promise.all([createTestIssuer(), startStub('auth')]);
    token = await issuer.token(`user-${randomUUID()}`);
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await Promise.all([...stubs.map((s) => s.stop()), auth?.stop(), issuer?.close()]);
  });

  it('when the task service is killed, then the breaker opens, no call reaches it until half-open, and it closes once the service is back', async () => {
    const port = (await freePort()) as number;
    const first = await stub(port);
    const app = await gateway(first.url, { BREAKER_VOLUME_THRESHOLD: 5, BREAKER_RESET_TIMEOUT_MS: 5000 });

    for (let i = 0; i < 5; i++) expect((await getTask(app)).statusCode).toBe(200);
    // 4xx answers are the client's doing, not the upstream failing: they must not count.
    for (let i = 0; i < 10; i++) expect((await getTask(app, { 'x-stub-status': '404' })).statusCode).toBe(404);
    expect(await breakerState(app, 'task')).toBe(0);

    await first.kill();
    const codes: string[] = [];
    for (let i = 0; i < 60 && codes.at(-1) !== 'GATEWAY_ERR_CIRCUIT_OPEN'; i++)
      codes.push((await getTask(app)).json<{ code: string }>().code);
    expect(codes.at(-1)).toBe('GATEWAY_ERR_CIRCUIT_OPEN');
    expect(new Set(codes.slice(0, -1))).toEqual(new Set(['GATEWAY_ERR_UPSTREAM_UNREACHABLE']));
    expect(await breakerState(app, 'task')).toBe(2);

    const second = await stub(port);
    for (let i = 0; i < 5; i++) {
      const res = await getTask(app);
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ code: 'GATEWAY_ERR_CIRCUIT_OPEN', message: expect.any(String) });
      expect(res.headers['retry-after']).toBe('5');
    }
    expect(await breakerState(app, 'task')).toBe(2);
    expect(await second.served()).toBe(0);
    // Other upstreams are not affected by the task service's breaker.
    expect((await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);

    await expect.poll(() => breakerState(app, 'task'), { timeout: 15_000, interval: 100 }).toBe(1);
    const trial = await getTask(app);
    expect(trial.statusCode).toBe(200);
    expect(await second.served()).toBe(1);
    expect(await breakerState(app, 'task')).toBe(0);
    expect((await getTask(app)).statusCode).toBe(200);
  });

  it('when the upstream answers 5xx, then those answers are relayed and counted, and the breaker opens', async () => {
    const upstream = await stub();
    const app = await gateway(upstream.url, { BREAKER_VOLUME_THRESHOLD: 5, BREAKER_RESET_TIMEOUT_MS: 30_000 });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await getTask(app, { 'x-stub-status': '500' })).statusCode);
    expect(statuses.slice(0, 5)).toEqual([500, 500, 500, 500, 500]);
    expect(statuses.at(-1)).toBe(503);
    expect(await breakerState(app, 'task')).toBe(2);
  });

  it('when the upstream does not answer within its timeout, then the gateway answers 504 and counts a failure', async () => {
    const upstream = await stub();
    const app = await gateway(upstream.url, { TASK_TIMEOUT_MS: 300, BREAKER_VOLUME_THRESHOLD: 2, BREAKER_RESET_TIMEOUT_MS: 30_000 });
    const slow = await getTask(app, { 'x-stub-delay-ms': '1000' });
    expect(slow.statusCode).toBe(504);
    expect(slow.json()).toEqual({ code: 'GATEWAY_ERR_UPSTREAM_TIMEOUT', message: expect.any(String) });
    expect((await getTask(app, { 'x-stub-delay-ms': '1000' })).statusCode).toBe(504);
    expect((await getTask(app)).json()).toMatchObject({ code: 'GATEWAY_ERR_CIRCUIT_OPEN' });
  });
});
