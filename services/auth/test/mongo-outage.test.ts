import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateMongo } from '../../../test/private-mongo.js';
import { bearer, login, postJson, register, startApp, stopApp, testConfig, uniqueEmail } from './harness.js';

describe('with the database down', () => {
  let store: PrivateMongo;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = await PrivateMongo.start();
    app = await startApp(testConfig({ MONGODB_URI: store.uri }));
  });
  afterAll(async () => {
    await stopApp(app, false);
    await store?.close();
  });

  it('when requests arrive, then they answer 503 with Retry-After, not 500, readiness fails, and all works again once it is back', async () => {
    const user = await register(app);
    const { accessToken } = await login(app, user.email);

    await store.stop();
    for (const send of [
      () => postJson(app, '/auth/register', { email: uniqueEmail(), password: 'correct horse battery staple' }),
      () => postJson(app, '/auth/login', { email: user.email, password: 'correct horse battery staple' }),
      () => app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) }),
    ]) {
      const res = await send();
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toEqual({ code: 'ERR_UNAVAILABLE', message: expect.any(String) });
      expect(res.headers['retry-after']).toBe('2');
    }
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503);

    await store.restart();
    await expect
      .poll(async () => (await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, {
        timeout: 30_000,
        interval: 500,
      })
      .toBe(200);
  }, 60_000);
});
