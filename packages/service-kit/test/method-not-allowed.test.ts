import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceApp } from '../src/index.js';

describe('405 Method Not Allowed', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await createServiceApp({ service: 'demo', logLevel: false });
    app.get('/things', async () => []);
    app.post('/things', async () => ({}));
    app.patch('/things/:id', async () => ({}));
    await app.register(
      async (scoped) => {
        scoped.delete('/things/:id', async () => ({}));
        // A catch-all (a CORS preflight, say) must not make every path look known.
        scoped.options('*', async () => '');
      },
      { prefix: '' },
    );
    await app.ready();
  });
  afterAll(() => app.close());

  it('when a known path is asked with another method, then 405 lists the methods it serves in Allow, before any body is read', async () => {
    const put = await app.inject({ method: 'PUT', url: '/things?x=1', payload: 'not json', headers: { 'content-type': 'text/plain' } });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe('GET, HEAD, POST');
    expect(put.json()).toMatchObject({ code: 'ERR_METHOD_NOT_ALLOWED' });
    expect(put.headers['x-request-id']).toEqual(expect.any(String));

    const trace = await app.inject({ method: 'TRACE', url: '/things/42' });
    expect(trace.statusCode).toBe(405);
    expect(trace.headers.allow).toBe('DELETE, PATCH');
  });

  it('when the path is unknown, then 404 without Allow, whatever the method', async () => {
    for (const method of ['GET', 'PUT', 'TRACE'] as const) {
      const res = await app.inject({ method, url: '/nothing/here' });
      expect(res.statusCode, method).toBe(404);
      expect(res.headers.allow).toBeUndefined();
      expect(res.json()).toMatchObject({ code: 'ERR_NOT_FOUND' });
    }
    expect(app.allowedMethods('/things/42/more')).toEqual([]);
  });
});
