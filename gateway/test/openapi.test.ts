import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OpenApiDocument } from '../src/domain/openapi-merge.js';
import { startGateway, testConfig } from './support/gateway.js';
import { startStub, type StubUpstream } from './support/processes.js';

type Operation = { summary?: string; security?: unknown; responses: Record<string, unknown>; requestBody?: unknown };

describe('gateway OpenAPI document', () => {
  let issuer: TestIssuer;
  let auth: StubUpstream;
  let task: StubUpstream;
  let analytics: StubUpstream;
  let app: FastifyInstance;

  beforeAll(async () => {
    [issuer, auth, task, analytics] = await Promise.all([createTestIssuer(), startStub('auth'), startStub('task'), startStub('analytics')]);
    app = await startGateway(
      testConfig({
        REDIS_URL: inject('infra').redisUrl,
        AUTH_URL: auth.url,
        TASK_URL: task.url,
        ANALYTICS_URL: analytics.url,
        JWKS_URL: issuer.jwksUrl,
        DOCS_CACHE_MS: 1,
      }),
    );
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([auth?.stop(), task?.stop(), analytics?.stop(), issuer?.close()]);
  });

  const document = async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    return res.json<OpenApiDocument>();
  };
  const op = (doc: OpenApiDocument, path: string, method: string) => doc.paths?.[path]?.[method] as Operation | undefined;

  it("when the documentation is asked for, then it holds every public route with the services' own descriptions merged in", async () => {
    const doc = await document();
    expect(Object.keys(doc.paths ?? {}).sort()).toEqual([
      '/.well-known/jwks.json',
      '/analytics/me',
      '/analytics/overview',
      '/auth/login',
      '/auth/logout',
      '/auth/me',
      '/auth/refresh',
      '/auth/register',
      '/tasks',
      '/tasks/{id}',
    ]);
    // The services' descriptions, with their request bodies and answers...
    expect(op(doc, '/auth/login', 'post')).toMatchObject({
      summary: 'Log in with email and password',
      requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Credentials' } } } },
    });
    expect(op(doc, '/tasks/{id}', 'get')?.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Task' } } },
    });
    // ...the gateway's own rules on top...
    expect(op(doc, '/tasks/{id}', 'get')).toMatchObject({ security: [{ bearerAuth: [] }] });
    expect(op(doc, '/auth/login', 'post')?.security).toBeUndefined();
    expect(Object.keys(op(doc, '/tasks/{id}', 'get')!.responses)).toEqual(expect.arrayContaining(['200', '401', '404', '429', '503']));
    expect(Object.keys(op(doc, '/analytics/overview', 'get')!.responses)).toContain('403');
    // ...and nothing the gateway does not route.
    expect(doc.paths?.['/internal/rotate-keys']).toBeUndefined();
  });

  it('when two services name different schemas alike, then both are kept under distinct names and each reference follows its own', async () => {
    const doc = await document();
    const schemas = doc.components?.schemas as Record<string, { description?: string }>;
    expect(schemas.Error?.description).toBe('auth error');
    expect(schemas.task_Error?.description).toBe('task error');
    expect(op(doc, '/tasks/{id}', 'get')?.responses['404']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/task_Error' } } },
    });
    expect(op(doc, '/auth/login', 'post')?.responses['401']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    });
    expect(doc.components?.securitySchemes).toEqual({ bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } });
  });

  it('when a service is down, then the document still serves what is known and /docs still answers', async () => {
    await task.stop();
    const doc = await document();
    expect(op(doc, '/tasks/{id}', 'get')?.summary).toBe('Read one of your tasks');
    expect(op(doc, '/auth/login', 'post')?.summary).toBe('Log in with email and password');
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
  });
});
