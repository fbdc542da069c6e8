import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PrivateMongo } from '../../../test/private-mongo.js';
import { json, taskHarness, type TaskHarness } from './harness.js';

/** The gateway's upstream timeout for task (TASK_TIMEOUT_MS): the service must answer before it gives up. */
const GATEWAY_TIMEOUT_MS = 5000;

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

/** A new user and one task of theirs, stored while the database answers. */
async function userWithTask() {
  const headers = { authorization: `Bearer ${await h.issuer.token(`user-${randomUUID()}`)}` };
  const created = await app.inject({ method: 'POST', url: '/tasks', headers, payload: { title: 'before' } });
  expect(created.statusCode).toBe(201);
  return { headers, created };
}

describe('with the database down', () => {
  it('when requests arrive, then they answer 503 with Retry-After, readiness fails, and all works again once it is back', async () => {
    const { headers, created } = await userWithTask();

    await store.stop();
    for (const opts of [
      { method: 'POST' as const, url: '/tasks', payload: { title: 'during' } },
      { method: 'GET' as const, url: '/tasks' },
      { method: 'GET' as const, url: `/tasks/${json<{ id: string }>(created).id}` },
    ]) {
      const res = await app.inject({ ...opts, headers });
      expect(res.statusCode, res.body).toBe(503);
      expect(json(res)).toEqual({ code: 'ERR_UNAVAILABLE', message: expect.any(String) });
      expect(res.headers['retry-after']).toBe('2');
    }
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);

    await store.restart();
    await expect
      .poll(async () => (await app.inject({ method: 'POST', url: '/tasks', headers, payload: { title: 'after' } })).statusCode, {
        // each attempt may wait out server selection (5 s) while the driver reconnects; a loaded
        // machine restarts the server slowly too
        timeout: 60_000,
        interval: 500,
      })
      .toBe(201);
    const list = json<{ items: { title: string }[] }>(await app.inject({ method: 'GET', url: '/tasks', headers }));
    expect(list.items.map((t) => t.title)).toEqual(['after', 'before']);
  }, 90_000);

  // Order-independent: this test's own commands prove the watcher listens, and the harness fails
  // the file at close if any command of any test did not name its owner.
  it('when commands run on the tasks collection, then the watcher sees them and every one named one owner', async () => {
    expect(await h.watchedCommands(app)).toBeGreaterThan(0);
    expect(h.watcher.violations).toEqual([]);
  });
});

describe('with the database hung (accepting connections, never answering)', () => {
  it('when requests arrive, then each answers 503 with Retry-After before the gateway would time out, and all works again once it resumes', async () => {
    const { headers, created } = await userWithTask();

    await store.hang();
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
