import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import { metricValue } from '@taskmesh/service-kit/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../scripts/infra-lib.mjs';
import { isIdempotent } from '../src/domain/upstream.js';
import { startGateway, testConfig } from './support/gateway.js';

/**
 * An upstream that, while `drops` is above zero, reads a request and closes its connection
 * without answering: what a draining instance's closed keep-alive connection or a reset looks
 * like to the gateway. Otherwise it answers 200 (201 for POST) with what it got.
 */
function droppingUpstream() {
  const state = { drops: 0, received: [] as string[] };
  const server = http.createServer((req, res) => {
    state.received.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      if (state.drops > 0) {
        state.drops--;
        req.socket.destroy();
        return;
      }
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url }));
    });
  });
  return { state, server };
}

describe('gateway: a request whose upstream connection is lost', () => {
  let issuer: TestIssuer;
  let app: FastifyInstance;
  let token: string;
  const upstream = droppingUpstream();

  beforeAll(async () => {
    issuer = await createTestIssuer();
    await new Promise<void>((resolve) => upstream.server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}`;
    app = await startGateway(
      testConfig({
        REDIS_URL: inject('infra').redisUrl,
        AUTH_URL: url,
        TASK_URL: url,
        ANALYTICS_URL: url,
        JWKS_URL: issuer.jwksUrl,
        RATE_LIMIT_API_PER_MINUTE: 10_000,
        // Breakers stay out of this: every call here is one the breaker would count.
        BREAKER_VOLUME_THRESHOLD: 1000,
      }),
    );
    token = await issuer.token(`user-${crypto.randomUUID()}`);
  });
  afterAll(async () => {
    await app?.close();
    await new Promise((resolve) => upstream.server.close(resolve));
    await issuer?.close();
  });

  const send = (method: string, url: string, headers: Record<string, string> = {}, payload?: string) =>
    app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${token}`, ...headers }, ...(payload ? { payload } : {}) });
  const retries = () => metricValue(app, 'gateway_upstream_retries_total', { upstream: 'task' });

  it('when the methods are classified, then GET, HEAD, PUT, DELETE and a POST with an Idempotency-Key are idempotent, PATCH and a bare POST are not', () => {
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE'] as const) expect(isIdempotent({ method, headers: {} })).toBe(true);
    expect(isIdempotent({ method: 'POST', headers: { 'idempotency-key': 'k-1' } })).toBe(true);
    expect(isIdempotent({ method: 'POST', headers: {} })).toBe(false);
    expect(isIdempotent({ method: 'PATCH', headers: { 'idempotency-key': 'k-1' } })).toBe(false);
  });

  it('when a GET loses its connection, then it is sent once more on another connection and the client gets the answer', async () => {
    const before = await retries();
    upstream.state.received.length = 0;
    upstream.state.drops = 1;
    const res = await send('GET', '/tasks/t-1');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ method: 'GET', url: '/tasks/t-1' });
    expect(upstream.state.received).toEqual(['GET /tasks/t-1', 'GET /tasks/t-1']);
    expect(await retries()).toBe(before + 1);
  });

  it('when a GET loses its connection twice, then it is retried only once and the client gets 502', async () => {
    upstream.state.received.length = 0;
    upstream.state.drops = 2;
    const res = await send('GET', '/tasks/t-2');
    expect(res.statusCode).toBe(502);
    expect(res.json().code).toBe('GATEWAY_ERR_UPSTREAM_UNREACHABLE');
    expect(upstream.state.received).toHaveLength(2);
  });

  it('when a POST with an Idempotency-Key loses its connection, then it is retried', async () => {
    upstream.state.received.length = 0;
    upstream.state.drops = 1;
    const res = await send('POST', '/tasks', { 'content-type': 'application/json', 'idempotency-key': 'k-retry' }, '{"title":"x"}');
    expect(res.statusCode).toBe(201);
    expect(upstream.state.received).toEqual(['POST /tasks', 'POST /tasks']);
  });

  it('when a POST without an Idempotency-Key or a PATCH loses its connection, then it is never sent again and the client gets 502', async () => {
    const before = await retries();
    for (const [method, url] of [
      ['POST', '/tasks'],
      ['PATCH', '/tasks/t-3'],
    ] as const) {
      upstream.state.received.length = 0;
      upstream.state.drops = 1;
      const res = await send(method, url, { 'content-type': 'application/json' }, '{"title":"x"}');
      expect(res.statusCode).toBe(502);
      expect(upstream.state.received).toEqual([`${method} ${url}`]);
    }
    expect(await retries()).toBe(before);
  });
});

describe('gateway readiness', () => {
  it('when every upstream is unreachable, then the gateway is still ready (the breakers answer for them) and reports each as failing', async () => {
    const issuer = await createTestIssuer();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const app = await startGateway(
      testConfig({ REDIS_URL: inject('infra').redisUrl, AUTH_URL: dead, TASK_URL: dead, ANALYTICS_URL: dead, JWKS_URL: issuer.jwksUrl }),
    );
    try {
      const res = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(200);
      const checks = res.json<{ checks: Record<string, { ok: boolean; required?: boolean }> }>().checks;
      for (const name of ['auth', 'task', 'analytics']) expect(checks[name]).toMatchObject({ ok: false, required: false });
      expect(checks.redis).toMatchObject({ ok: true });
    } finally {
      await app.close();
      await issuer.close();
    }
  });
});
