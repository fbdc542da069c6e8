import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, register, startApp, stopApp, uniqueEmail } from './harness.js';

describe('probes, metrics and the OpenAPI document', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(() => stopApp(app));

  it('when Mongo and Kafka answer, then live and ready are 200 and ready names both checks', async () => {
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', checks: { mongo: { ok: true }, kafka: { ok: true } } });
  });

  it('when requests were served, then /metrics has the route histogram and the auth counters by outcome', async () => {
    const user = await register(app);
    await postJson(app, '/auth/login', { email: user.email, password: 'wrong password' });
    await postJson(app, '/auth/login', { email: uniqueEmail('nobody'), password: 'wrong password' });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/auth\/register"[^}]*status_code="201"[^}]*\} 1/);
    expect(text).toMatch(/auth_login_attempts_total\{outcome="invalid_credentials",service="auth"\} 2/);
    expect(text).toMatch(/auth_password_verifications_total\{service="auth"\} 2/);
    expect(text).toMatch(/process_cpu_user_seconds_total/);
  });

  it('when /docs/json is fetched, then it is an OpenAPI 3 document with the public routes and without the probes', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/.well-known/jwks.json',
      '/auth/login',
      '/auth/logout',
      '/auth/me',
      '/auth/refresh',
      '/auth/register',
    ]);
    expect(doc.paths['/auth/register'].post.requestBody.content['application/json'].schema).toMatchObject({
      additionalProperties: false,
      required: ['email', 'password'],
      properties: { password: { minLength: 8, maxLength: 128 } },
    });
    expect(doc.paths['/auth/me'].get.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});
