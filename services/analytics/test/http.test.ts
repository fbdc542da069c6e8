import type { TestIssuer } from '@taskmesh/access-token/testing';
import { envelope, type DomainEvent } from '@taskmesh/events';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { type AnalyticsHarness, TestProducer, analyticsHarness, nonZeroDays } from './harness.js';

const hex24 = () => crypto.randomUUID().replace(/-/g, '').slice(0, 24);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('the analytics HTTP API', () => {
  let h: AnalyticsHarness;
  let issuer: TestIssuer;
  let config: Config;
  let app: FastifyInstance;
  let producer: TestProducer;

  beforeAll(async () => {
    h = await analyticsHarness();
    ({ issuer, config, producer, app } = h);
  });
  afterAll(() => h?.close());

  const get = async (url: string, token?: string) =>
    app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('when a user without any events asks for their statistics, then every figure is zero and the last 30 days are listed', async () => {
    const res = await get('/analytics/me', await issuer.token(hex24()));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      tasksCreated: 0,
      tasksCompleted: 0,
      tasksDeleted: 0,
      tasksOpen: 0,
      averageCompletionMs: 0,
      completionTimeMsTotal: 0,
      completionCount: 0,
    });
    expect(body.completedPerDay).toHaveLength(30);
    expect(body.completedPerDay.at(-1)).toEqual({ date: new Date().toISOString().slice(0, 10), count: 0 });
  });

  it("when a user's tasks are created, completed and deleted, then their statistics and the overview say so, and a completion older than 30 days counts only in the totals", async () => {
    const user = hex24();
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const [a, b, c, old] = [hex24(), hex24(), hex24(), hex24()];
    const events = [
      envelope('UserRegistered', user, { userId: user, role: 'user' as const, registeredAt: iso(now - 50 * DAY) }),
      envelope('TaskCreated', user, {
        taskId: old,
        ownerId: user,
        status: 'todo' as const,
        dueAt: null,
        createdAt: iso(now - 45 * DAY),
        version: 1,
      }),
      envelope('TaskCompleted', user, {
        taskId: old,
        ownerId: user,
        previousStatus: 'todo' as const,
        createdAt: iso(now - 45 * DAY),
        completedAt: iso(now - 40 * DAY),
        version: 2,
      }),
      envelope('TaskCreated', user, {
        taskId: a,
        ownerId: user,
        status: 'todo' as const,
        dueAt: null,
        createdAt: iso(now - 3 * HOUR),
        version: 1,
      }),
      envelope('TaskCreated', user, {
        taskId: b,
        ownerId: user,
        status: 'in_progress' as const,
        dueAt: null,
        createdAt: iso(now - 3 * HOUR),
        version: 1,
      }),
      envelope('TaskCreated', user, {
        taskId: c,
        ownerId: user,
        status: 'todo' as const,
        dueAt: null,
        createdAt: iso(now - 2 * HOUR),
        version: 1,
      }),
      envelope('TaskUpdated', user, {
        taskId: a,
        ownerId: user,
        status: 'in_progress' as const,
        previousStatus: 'todo' as const,
        changed: ['status'],
        updatedAt: iso(now - 2 * HOUR),
        version: 2,
      }),
      envelope('TaskCompleted', user, {
        taskId: a,
        ownerId: user,
        previousStatus: 'in_progress' as const,
        createdAt: iso(now - 3 * HOUR),
        completedAt: iso(now - HOUR),
        version: 3,
      }),
      envelope('TaskDeleted', user, { taskId: c, ownerId: user, status: 'todo' as const, deletedAt: iso(now - HOUR), version: 2 }),
    ] as DomainEvent[];
    await producer.send(events);
    await producer.drained(config);

    const me = (await get('/analytics/me', await issuer.token(user))).json();
    const today = new Date(now - HOUR).toISOString().slice(0, 10);
    expect({ ...me, completedPerDay: nonZeroDays(me.completedPerDay) }).toEqual({
      userId: user,
      tasksCreated: 4,
      tasksCompleted: 2,
      tasksDeleted: 1,
      tasksOpen: 1,
      completedPerDay: { [today]: 1 },
      completionTimeMsTotal: 5 * DAY + 2 * HOUR,
      completionCount: 2,
      averageCompletionMs: (5 * DAY + 2 * HOUR) / 2,
    });

    const overview = await get('/analytics/overview', await issuer.token(hex24(), 'admin'));
    expect(overview.statusCode).toBe(200);
    const o = overview.json();
    expect({ ...o, createdPerDay: nonZeroDays(o.createdPerDay), completedPerDay: nonZeroDays(o.completedPerDay) }).toEqual({
      usersRegistered: 1,
      tasksCreated: 4,
      tasksCompleted: 2,
      tasksDeleted: 1,
      tasksOpen: 1,
      completionTimeMsTotal: 5 * DAY + 2 * HOUR,
      completionCount: 2,
      averageCompletionMs: (5 * DAY + 2 * HOUR) / 2,
      // The task created 45 days ago is outside the window; the three of today are in it.
      createdPerDay: Object.fromEntries(
        [now - 3 * HOUR, now - 3 * HOUR, now - 2 * HOUR]
          .map((t) => new Date(t).toISOString().slice(0, 10))
          .reduce((m, d) => m.set(d, (m.get(d) ?? 0) + 1), new Map<string, number>()),
      ),
      completedPerDay: { [today]: 1 },
    });
  });

  it('when a user asks for the overview, then the answer is 403; without a token 401; with a forged token 401', async () => {
    const asUser = await get('/analytics/overview', await issuer.token(hex24(), 'user'));
    expect(asUser.statusCode).toBe(403);
    expect(asUser.json()).toEqual({ code: 'AUTH_ERR_FORBIDDEN', message: 'the admin role is required' });

    const anonymous = await get('/analytics/overview');
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ code: 'AUTH_ERR_TOKEN_MISSING' });

    const now = Math.floor(Date.now() / 1000);
    const forged = await issuer.signRaw({
      sub: hex24(),
      role: 'admin',
      iss: issuer.issuer,
      aud: 'someone-else',
      iat: now,
      exp: now + 60,
      jti: crypto.randomUUID(),
    });
    const res = await get('/analytics/me', forged);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'AUTH_ERR_TOKEN_INVALID' });
  });

  it('when the service runs, then readiness names Mongo, Kafka and the consumer, metrics carry the analytics series, and /docs/json describes both routes', async () => {
    const ready = await get('/health/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toMatchObject({ mongo: { ok: true }, kafka: { ok: true }, consumer: { ok: true } });

    const metrics = (await get('/metrics')).body;
    for (const name of [
      'analytics_events_processed_total',
      'analytics_dedup_hits_total',
      'analytics_dead_letters_total',
      'analytics_event_processing_seconds_bucket',
      'kafka_consumer_lag',
    ]) {
      expect(metrics).toContain(name);
    }
    expect(metrics).toMatch(new RegExp(`kafka_consumer_lag\\{[^}]*topic="${config.TASK_EVENTS_TOPIC}"[^}]*\\} 0`));
    expect(metrics).toMatch(/analytics_events_processed_total\{[^}]*type="TaskCreated"[^}]*outcome="applied"[^}]*\} 4/);

    const doc = (await get('/docs/json')).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/analytics/me', '/analytics/overview']));
    expect(doc.paths['/analytics/overview'].get.responses).toHaveProperty('403');
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['UserStats', 'Overview', 'DayCount']));
  });

  it('when the consumer has stopped, then readiness reports it without turning 503 (the statistics stay readable; a consumer that gave up ends the process)', async () => {
    await app.statsConsumer.stop();
    const ready = await get('/health/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.consumer).toMatchObject({ ok: false, required: false, error: 'the statistics consumer is not running' });
  });
});
