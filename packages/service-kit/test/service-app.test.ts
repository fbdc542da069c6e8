import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceApp, defineErrors, retryWithBackoff } from '../src/index.js';

const errors = defineErrors({ DEMO_ERR_NOT_FOUND: [404, 'demo not found'] });

describe('createServiceApp', () => {
  let app: FastifyInstance;
  let dependencyUp = true;

  beforeAll(async () => {
    app = await createServiceApp({ service: 'demo', logLevel: false, bodyLimit: 1024 });
    app.readiness.add('dependency', async () => {
      if (!dependencyUp) throw new Error('dependency down');
    });
    app.readiness.add('slow', () => new Promise((resolve) => setTimeout(resolve, 50)));
    app.post(
      '/things',
      {
        schema: {
          body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 20 }), count: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })) }),
        },
      },
      async (request) => ({ body: request.body, query: request.query }),
    );
    app.get('/things/:id', async () => {
      throw errors.DEMO_ERR_NOT_FOUND();
    });
    app.get('/boom', async () => {
      throw new Error('secret internal detail at /srv/app.js:42');
    });
    await app.ready();
  });
  afterAll(() => app.close());

  const post = (payload: string, headers: Record<string, string> = { 'content-type': 'application/json' }, url = '/things') =>
    app.inject({ method: 'POST', url, payload, headers });

  it('when the body is valid, then it is accepted and the query string is coerced', async () => {
    const res = await post('{"name":"a","count":2}', undefined, '/things?limit=3');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ body: { name: 'a', count: 2 }, query: { limit: 3 } });
  });

  it.each([
    ['malformed JSON', '{"name":', 400, 'ERR_MALFORMED_JSON'],
    ['an unknown field', '{"name":"a","ownerId":"x"}', 400, 'ERR_VALIDATION'],
    ['an operator object where a string belongs', '{"name":{"$ne":null}}', 400, 'ERR_VALIDATION'],
    ['an array where a string belongs', '{"name":["a"]}', 400, 'ERR_VALIDATION'],
    ['a string where an integer belongs', '{"name":"a","count":"2"}', 400, 'ERR_VALIDATION'],
    ['a __proto__ key', '{"name":"a","__proto__":{"admin":true}}', 400, 'ERR_FORBIDDEN_KEY'],
    ['a constructor.prototype key', '{"name":"a","constructor":{"prototype":{"admin":true}}}', 400, 'ERR_FORBIDDEN_KEY'],
    ['a body over the limit', JSON.stringify({ name: 'x'.repeat(2000) }), 413, 'ERR_PAYLOAD_TOO_LARGE'],
  ])('when the body has %s, then it is refused with its status and code', async (_what, payload, status, code) => {
    const res = await post(payload);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ code });
    expect(res.body).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it('when the content type is not JSON, then the answer is 415', async () => {
    const res = await post('name=a', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ code: 'ERR_UNSUPPORTED_MEDIA_TYPE' });
  });

  it('when a query parameter is out of range, then the answer is 400', async () => {
    const res = await post('{"name":"a"}', undefined, '/things?limit=500');
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_VALIDATION');
  });

  it('when a catalogued error is thrown, then its code and status are answered', async () => {
    const res = await app.inject({ method: 'GET', url: '/things/1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ code: 'DEMO_ERR_NOT_FOUND', message: 'demo not found' });
  });

  it('when an unexpected error is thrown, then a 500 says only "internal error"', async () => {
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ code: 'ERR_INTERNAL', message: 'internal error' });
  });

  it('when no route matches, then a 404 names the route', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ code: 'ERR_NOT_FOUND', message: 'no route GET /nope' });
  });

  it('when a request carries a safe x-request-id, then it is echoed; otherwise a new one is made', async () => {
    const given = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const unsafe = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': `<script>${'x'.repeat(200)}` } });
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const none = await app.inject({ method: 'GET', url: '/health/live' });
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(none.headers['x-request-id']).not.toBe(unsafe.headers['x-request-id']);
  });

  it('when every check passes, then ready is 200; when one fails, then 503 names it; when draining, then 503', async () => {
    const ok = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().checks).toMatchObject({ dependency: { ok: true }, slow: { ok: true } });

    dependencyUp = false;
    const down = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(down.statusCode).toBe(503);
    expect(down.json().checks.dependency).toMatchObject({ ok: false, error: 'dependency down' });
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    dependencyUp = true;
  });

  it('when requests were served, then /metrics has the duration histogram by route template', async () => {
    await app.inject({ method: 'GET', url: '/things/42' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const line = res.body.split('\n').find((l) => l.startsWith('http_request_duration_seconds_count') && l.includes('route="/things/:id"'));
    expect(line).toMatch(/method="GET".*status_code="404"/);
    expect(line).toMatch(/service="demo"/);
    expect(res.body).not.toContain('/things/42');
    expect(res.body).toContain('nodejs_eventloop_lag_seconds');
  });
});

describe('readiness while draining', () => {
  it('when the app is draining, then ready answers 503 "draining"', async () => {
    const app = await createServiceApp({ service: 'drain', logLevel: false });
    app.readiness.drain();
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.json().status).toBe('draining');
    await app.close();
  });

  it('when a check is not required and fails, then ready stays 200 and reports it', async () => {
    const app = await createServiceApp({ service: 'optional', logLevel: false });
    app.readiness.add('broker', async () => Promise.reject(new Error('broker down')), { required: false });
    app.readiness.add('store', async () => undefined);
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json().checks).toMatchObject({ broker: { ok: false, required: false, error: 'broker down' }, store: { ok: true } });
    await app.close();
  });

  it('when the app drains on a real socket, then keep-alive answers carry Connection: close and the client opens a new connection', async () => {
    const app = await createServiceApp({ service: 'drain-socket', logLevel: false });
    app.get('/work', async (request) => ({ port: request.socket.remotePort }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    // One client, one connection at a time: the port it comes from tells the connections apart.
    const client = new Client(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
    const get = async () => {
      const res = await client.request({ method: 'GET', path: '/work' });
      return { status: res.statusCode, headers: res.headers, port: ((await res.body.json()) as { port: number }).port };
    };
    try {
      const first = await get();
      expect(first.headers.connection).toBe('keep-alive');
      expect(first.headers['keep-alive']).toBe('timeout=4');
      expect((await get()).port).toBe(first.port);

      app.readiness.drain();
      const draining = await get();
      expect(draining.status).toBe(200);
      expect(draining.headers.connection).toBe('close');
      expect(draining.port).toBe(first.port);
      // The server closed that connection after its answer: the next request comes on a new one.
      expect((await get()).port).not.toBe(first.port);
    } finally {
      await client.close();
      await app.close();
    }
  });
});

describe('retryWithBackoff', () => {
  it('when the attempt fails twice, then it is retried with doubling, logged delays and its result returned', async () => {
    let n = 0;
    const warnings: object[] = [];
    const log = { info: () => undefined, warn: (obj: object) => void warnings.push(obj) };
    const result = await retryWithBackoff(
      'store',
      async () => {
        if (++n < 3) throw new Error(`not yet ${n}`);
        return 'up';
      },
      { initialDelayMs: 10, log },
    );
    expect(result).toBe('up');
    expect(warnings).toEqual([
      { what: 'store', attempt: 1, retryInMs: 10, error: 'not yet 1' },
      { what: 'store', attempt: 2, retryInMs: 20, error: 'not yet 2' },
    ]);
  });

  it('when the attempt keeps failing past the bound, then it throws the last error, bounded in time', async () => {
    const t0 = Date.now();
    await expect(
      retryWithBackoff('store', () => Promise.reject(new Error('refused')), { timeoutMs: 200, initialDelayMs: 20, maxDelayMs: 40 }),
    ).rejects.toThrow(/store: still failing after \d+ attempts .*refused/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
