import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PrivateMongo } from '../../../test/private-mongo.js';
import { json, taskHarness, type TaskHarness } from './harness.js';

/** The gateway's upstream timeout for task (TASK_TIMEOUT_MS): the service must answer before it gives up. */
const GATEWAY_TIMEOUT_MS = 5000;

describe('with the database hung (accepting connections, never answering)', () => {
  let store: PrivateMongo;
  let h: TaskHarness;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = await PrivateMongo.start();
    h = await taskHarness({ ...inject('infra'), mongodbUri: store.uri });
    app = await h.app();
  });
  afterAll(async () => {
    store?.resume();
    await h?.close();
    await store?.close();
  });

  it('when requests arrive, then each answers 503 with Retry-After before the gateway would time out, and all works again once it resumes', async () => {
    const token = await h.issuer.token(`user-${randomUUID()}`);
    const headers = { authorization: `Bearer ${token}` };
    const created = await app.inject({ method: 'POST', url: '/tasks', headers, payload: { title: 'before' } });
    expect(created.statusCode).toBe(201);

    store.hang();
    try {
      for (const opts of [
        { method: 'GET' as const, url: `/tasks/${json<{ id: string }>(created).id}` },
        { method: 'POST' as const, url: '/tasks', payload: { title: 'during' } },
        { method: 'GET' as const, url: '/tasks' },
      ]) {
        const t0 = performance.now();
        const res = await app.inject({ ...opts, headers });
        const ms = performance.now() - t0;
        expect(res.statusCode, res.body).toBe(503);
        expect(json(res)).toEqual({ code: 'ERR_UNAVAILABLE', message: expect.any(String) });
        expect(res.headers['retry-after']).toBe('2');
        expect(ms, `${opts.method} ${opts.url} answered after ${Math.round(ms)} ms`).toBeLessThan(GATEWAY_TIMEOUT_MS);
      }
    } finally {
      store.resume();
    }
    await expect
      .poll(async () => (await app.inject({ method: 'GET', url: '/tasks', headers })).statusCode, { timeout: 30_000, interval: 500 })
      .toBe(200);
  }, 90_000);
});
