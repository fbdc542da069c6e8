import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, testConfig } from './support/gateway.js';
import { startStub, type StubUpstream } from './support/processes.js';

interface Echo {
  upstream: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

describe('gateway routing', () => {
  let issuer: TestIssuer;
  let auth: StubUpstream;
  let task: StubUpstream;
  let analytics: StubUpstream;
  let app: FastifyInstance;
  let token: string;

  beforeAll(async () => {
    [issuer, auth, task, analytics] = await Promise.all([createTestIssuer(), startStub('auth'), startStub('task'), startStub('analytics')]);
    app = await startGateway(
      testConfig({
        REDIS_URL: inject('infra').redisUrl,
        AUTH_URL: auth.url,
        TASK_URL: task.url,
        ANALYTICS_URL: analytics.url,
        JWKS_URL: issuer.jwksUrl,
        CORS_ORIGINS: 'https://app.example.com',
        BODY_LIMIT_BYTES: 1024,
        UPSTREAM_RESPONSE_LIMIT_BYTES: 64 * 1024,
      }),
    );
    token = await issuer.token(`user-${crypto.randomUUID()}`);
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([auth?.stop(), task?.stop(), analytics?.stop(), issuer?.close()]);
  });

  it('when a user reads a task, then the task service gets the original token, a request id, a traceparent and the client address', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/tasks/t-1?fields=title',
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '6.6.6.6' },
    });
    expect(res.statusCode).toBe(200);
    const echo = res.json<Echo>();
    expect(echo).toMatchObject({ upstream: 'task', method: 'GET', url: '/tasks/t-1?fields=title' });
    expect(echo.headers.authorization).toBe(`Bearer ${token}`);
    expect(echo.headers['x-request-id']).toBe(res.headers['x-request-id']);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(echo.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // The peer is not a trusted proxy, so its X-Forwarded-For is replaced by its own address.
    expect(echo.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(res.headers['x-upstream']).toBe('task');
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('when the caller sends its own request id and traceparent, then both travel upstream unchanged and the id comes back', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await app.inject({
      method: 'GET',
      url: '/analytics/me',
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-42', traceparent },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-request-id']).toBe('req-42');
    expect(res.json<Echo>().headers).toMatchObject({ 'x-request-id': 'req-42', traceparent });
  });

  it('when a body is posted, then it reaches the upstream byte for byte, whatever its content type', async () => {
    const body = '{"title":"Zoë writes the docs ✓ 🚀","__note":"kept as sent"}';
    const res = await app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json<Echo>()).toMatchObject({ method: 'POST', url: '/tasks', body });
    const text = await app.inject({
      method: 'PATCH',
      url: '/tasks/t-1',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
      payload: 'a,b',
    });
    expect(text.json<Echo>()).toMatchObject({ method: 'PATCH', body: 'a,b' });
  });

  it('when a HEAD request is relayed, then it carries the length a GET would have and no body', async () => {
    const headers = { authorization: `Bearer ${token}`, 'x-request-id': 'same-id' };
    const get = await app.inject({ method: 'GET', url: '/tasks/t-7', headers });
    const head = await app.inject({ method: 'HEAD', url: '/tasks/t-7', headers });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
  });

  it('when a body is over the limit, then the gateway answers 413 and the upstream never sees it', async () => {
    const before = await task.served();
    const res = await app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ title: 'x'.repeat(2000) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ code: 'ERR_PAYLOAD_TOO_LARGE', message: expect.any(String) });
    expect(await task.served()).toBe(before);
  });

  it('when the upstream answers 4xx or 5xx, then the answer is relayed as it is', async () => {
    const res = await app.inject({
      method: 'DELETE',
      url: '/tasks/t-9',
      headers: { authorization: `Bearer ${token}`, 'x-stub-status': '404' },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json<Echo>().upstream).toBe('task');
    const failed = await app.inject({
      method: 'GET',
      url: '/auth/me',
      headers: { authorization: `Bearer ${token}`, 'x-stub-status': '500' },
    });
    expect(failed.statusCode).toBe(500);
    expect(failed.json<Echo>().upstream).toBe('auth');
  });

  it('when the upstream answer is larger than the relay limit, then the gateway answers 502 with a clear code', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/analytics/me',
      headers: { authorization: `Bearer ${token}`, 'x-stub-size': String(100 * 1024) },
    });
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({ code: 'GATEWAY_ERR_UPSTREAM_RESPONSE_TOO_LARGE' });
  });

  it('when public routes are called without a token, then they are relayed', async () => {
    const login = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(login.statusCode).toBe(200);
    expect(login.json<Echo>()).toMatchObject({ upstream: 'auth', url: '/auth/login' });
    const jwks = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(jwks.json<Echo>()).toMatchObject({ upstream: 'auth', url: '/.well-known/jwks.json' });
  });

  it('when a protected route is called without a token, then it answers 401 with a code and the upstream never sees it', async () => {
    const before = await task.served();
    const res = await app.inject({ method: 'GET', url: '/tasks' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ code: 'AUTH_ERR_TOKEN_MISSING', message: expect.any(String) });
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(await task.served()).toBe(before);
  });

  it('when an unknown path is called, then it answers 401 without a token and 404 with one', async () => {
    const anonymous = await app.inject({ method: 'GET', url: '/internal/rotate-keys' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ code: 'AUTH_ERR_TOKEN_MISSING' });
    const known = await app.inject({ method: 'GET', url: '/internal/rotate-keys', headers: { authorization: `Bearer ${token}` } });
    expect(known.statusCode).toBe(404);
    expect(known.json()).toMatchObject({ code: 'ERR_NOT_FOUND' });
  });

  it('when a user asks for the admin overview, then the gateway answers 403; an admin gets through', async () => {
    const user = await app.inject({ method: 'GET', url: '/analytics/overview', headers: { authorization: `Bearer ${token}` } });
    expect(user.statusCode).toBe(403);
    expect(user.json()).toMatchObject({ code: 'AUTH_ERR_FORBIDDEN' });
    const admin = await app.inject({
      method: 'GET',
      url: '/analytics/overview',
      headers: { authorization: `Bearer ${await issuer.token('admin-1', 'admin')}` },
    });
    expect(admin.statusCode).toBe(200);
    expect(admin.json<Echo>().url).toBe('/analytics/overview');
  });

  it('when any answer leaves the gateway, then it carries the security headers and a request id', async () => {
    for (const res of [
      await app.inject({ method: 'GET', url: '/tasks' }),
      await app.inject({ method: 'GET', url: '/tasks', headers: { authorization: `Bearer ${token}` } }),
    ]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['strict-transport-security']).toMatch(/max-age=/);
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      expect(res.headers['x-request-id']).toBeTruthy();
    }
  });

  it('when a browser from a configured origin sends a preflight, then CORS allows it; another origin gets no CORS headers', async () => {
    const ok = await app.inject({
      method: 'OPTIONS',
      url: '/tasks',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(ok.headers['access-control-allow-headers']).toContain('authorization');
    const other = await app.inject({
      method: 'OPTIONS',
      url: '/tasks',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('when a browser from a configured origin reads a task, then the answer carries its CORS headers; another origin gets none', async () => {
    const ok = await app.inject({
      method: 'GET',
      url: '/tasks/c-1',
      headers: { authorization: `Bearer ${token}`, origin: 'https://app.example.com' },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(ok.headers['access-control-expose-headers']).toBe(
      'x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after',
    );
    expect(ok.headers['access-control-allow-credentials']).toBeUndefined();
    expect(ok.headers.vary).toBe('Origin');
    const other = await app.inject({
      method: 'GET',
      url: '/tasks/c-1',
      headers: { authorization: `Bearer ${token}`, origin: 'https://evil.example.com' },
    });
    expect(other.statusCode).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    // Even a refusal tells a browser which origin may read it.
    const refused = await app.inject({ method: 'GET', url: '/tasks/c-1', headers: { origin: 'https://app.example.com' } });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(refused.headers.vary).toBe('Origin');
  });

  it('when requests have passed, then /metrics shows request durations by route template and upstream latency by status', async () => {
    await app.inject({ method: 'GET', url: '/tasks/abc', headers: { authorization: `Bearer ${token}` } });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(
      /http_request_duration_seconds_count\{[^}]*route="\/tasks\/:id"[^}]*method="GET"[^}]*status_code="200"[^}]*\} [1-9]/,
    );
    expect(text).toMatch(/gateway_upstream_duration_seconds_count\{[^}]*upstream="task"[^}]*status_code="200"[^}]*\} [1-9]/);
    expect(text).toMatch(/gateway_upstream_duration_seconds_count\{[^}]*upstream="auth"[^}]*status_code="500"[^}]*\} [1-9]/);
    expect(text).toMatch(/gateway_circuit_breaker_state\{[^}]*upstream="task"[^}]*\} 0/);
  });

  it('when Redis and every upstream answer, then the gateway is ready', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.json<{ checks: object }>().checks).sort()).toEqual(['analytics', 'auth', 'redis', 'task']);
  });
});
