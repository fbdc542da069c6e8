import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceApp, defineErrors } from '../src/index.js';

class StoreDown extends Error {}
const errors = defineErrors({ DEMO_ERR_STORE_UNAVAILABLE: [503, 'demo statistics are unavailable'] });

describe('the one error handler', () => {
  let app: FastifyInstance;
  let own: FastifyInstance;

  beforeAll(async () => {
    const routes = (a: FastifyInstance) => {
      a.recogniseUnavailable((err) => err instanceof StoreDown);
      a.get('/syntax', async () => JSON.parse('{ not json'));
      a.get('/status', async () => {
        throw Object.assign(new Error('a library said 400'), { statusCode: 400, code: 'LIB_BAD_INPUT' });
      });
      a.get('/store', async () => {
        throw new StoreDown('connection refused');
      });
    };
    app = await createServiceApp({ service: 'demo', logLevel: false });
    routes(app);
    own = await createServiceApp({ service: 'demo', logLevel: false, unavailableError: errors.DEMO_ERR_STORE_UNAVAILABLE });
    routes(own);
    await Promise.all([app.ready(), own.ready()]);
  });
  afterAll(() => Promise.all([app.close(), own.close()]));

  it('when our own code throws a SyntaxError, then the answer is a 500, not the client’s 400', async () => {
    const res = await app.inject({ method: 'GET', url: '/syntax' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ code: 'ERR_INTERNAL', message: 'internal error' });
  });

  it('when a library error carries a 4xx statusCode, then it is still our 500', async () => {
    const res = await app.inject({ method: 'GET', url: '/status' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ code: 'ERR_INTERNAL', message: 'internal error' });
  });

  it('when a recognised dependency failure is thrown, then 503 with Retry-After, in the service’s own code when it has one', async () => {
    const shared = await app.inject({ method: 'GET', url: '/store' });
    expect(shared.statusCode).toBe(503);
    expect(shared.headers['retry-after']).toBe('2');
    expect(shared.json()).toMatchObject({ code: 'ERR_UNAVAILABLE' });

    const specific = await own.inject({ method: 'GET', url: '/store' });
    expect(specific.statusCode).toBe(503);
    expect(specific.headers['retry-after']).toBe('2');
    expect(specific.json()).toEqual({ code: 'DEMO_ERR_STORE_UNAVAILABLE', message: 'demo statistics are unavailable' });
  });
});
