import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, testConfig } from './support/gateway.js';
import { startStub, type StubUpstream } from './support/processes.js';

interface Echo {
  method: string;
  url: string;
  body: string | null;
}

describe('upstream pipelining', () => {
  let issuer: TestIssuer;
  let stubs: StubUpstream[];
  let app: FastifyInstance;
  let token: string;
  const PIPELINING = 16;

  beforeAll(async () => {
    issuer = await createTestIssuer();
    stubs = await Promise.all([startStub('auth'), startStub('task'), startStub('analytics')]);
    app = await startGateway(
      testConfig({
        REDIS_URL: inject('infra').redisUrl,
        AUTH_URL: stubs[0]!.url,
        TASK_URL: stubs[1]!.url,
        ANALYTICS_URL: stubs[2]!.url,
        JWKS_URL: issuer.jwksUrl,
        RATE_LIMIT_API_PER_MINUTE: 1_000_000,
        UPSTREAM_PIPELINING: PIPELINING,
      }),
    );
    token = await issuer.token(`user-${crypto.randomUUID()}`);
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([...(stubs ?? []).map((s) => s.stop()), issuer?.close()]);
  });

  const read = (path: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${token}`, ...headers } });

  it('when 100 reads arrive together, then they share pipelined connections and each answer is the one for its request', async () => {
    const task = stubs[1]!;
    const before = await task.connections();
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => read(`/tasks/t-${i}?n=${i}`)));
    answers.forEach((res, i) => {
      expect(res.statusCode).toBe(200);
      expect(res.json<Echo>().url).toBe(`/tasks/t-${i}?n=${i}`);
    });
    // Released together by the rate limiter, they go up to PIPELINING to a socket (7 sockets when the
    // whole burst is counted in one batch) instead of one socket each (100).
    expect((await task.connections()) - before).toBeLessThanOrEqual(2 * Math.ceil(100 / PIPELINING));
  });

  it('when a slow read is in flight, then a read arriving later is not queued behind it', async () => {
    let slowDone = false;
    const slow = read('/tasks/slow', { 'x-stub-delay-ms': '1500' }).then((res) => {
      slowDone = true;
      return res;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fast = await read('/tasks/fast');
    expect(fast.json<Echo>().url).toBe('/tasks/fast');
    expect(slowDone).toBe(false);
    expect((await slow).json<Echo>().url).toBe('/tasks/slow');
  });

  it('when writes and reads arrive together, then every write is answered as its own request', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0
          ? app.inject({
              method: 'POST',
              url: '/tasks',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              payload: JSON.stringify({ title: `task ${i}` }),
            })
          : read(`/tasks/t-${i}`),
      ),
    );
    answers.forEach((res, i) => {
      expect(res.statusCode).toBe(200);
      const echo = res.json<Echo>();
      if (i % 2 === 0) expect(echo).toMatchObject({ method: 'POST', url: '/tasks', body: JSON.stringify({ title: `task ${i}` }) });
      else expect(echo).toMatchObject({ method: 'GET', url: `/tasks/t-${i}` });
    });
  });

  it('when an upstream answers a pipelined read with 5xx, then only that answer is a 5xx', async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => read(`/analytics/me?i=${i}`, i === 3 ? { 'x-stub-status': '500' } : {})),
    );
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 500, 200, 200, 200, 200]);
  });
});
