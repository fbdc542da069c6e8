import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { TestIssuer } from '@taskmesh/access-token/testing';
import { envelope, type DomainEvent } from '@taskmesh/events';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { DLQ_HEADERS, readDeadLetters, replayDeadLetters } from '../src/events/dead-letters.js';
import { type AnalyticsHarness, TestProducer, analyticsHarness, metricValue, topicsOf } from './harness.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

/** Runs the dead-letter tool from source, as an operator would run the built one. */
function cli(config: Config, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    path.join(repoRoot, 'node_modules/.bin/tsx'),
    ['--tsconfig', 'services/analytics/tsconfig.tsx.json', 'services/analytics/src/cli/dead-letters.ts', ...args],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, KAFKA_BROKERS: config.KAFKA_BROKERS, KAFKA_GROUP_ID: config.KAFKA_GROUP_ID },
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const hex24 = () => crypto.randomUUID().replace(/-/g, '').slice(0, 24);

function created(userId: string, at = new Date()): DomainEvent {
  return envelope(
    'TaskCreated',
    userId,
    { taskId: hex24(), ownerId: userId, status: 'todo' as const, dueAt: null, createdAt: at.toISOString(), version: 1 },
    at,
  ) as DomainEvent;
}

describe('poison messages and the dead-letter topic', () => {
  let h: AnalyticsHarness;
  let issuer: TestIssuer;
  let config: Config;
  let app: FastifyInstance;
  let producer: TestProducer;
  /** Event ids whose store write throws, as if the store rejected them. */
  const failing = new Set<string>();

  beforeAll(async () => {
    h = await analyticsHarness({
      app: {
        hooks: {
          beforeApply: (event) => {
            if (failing.has(event.id)) throw new Error(`the store refused ${event.id}`);
          },
        },
      },
    });
    ({ issuer, config, producer, app } = h);
  });
  afterAll(() => h?.close());

  const me = async (userId: string) =>
    (await app.inject({ method: 'GET', url: '/analytics/me', headers: { authorization: `Bearer ${await issuer.token(userId)}` } })).json();

  it('when messages invalid against their contract arrive between valid ones, then each lands in the dead-letter topic with its reason and the events after it are applied', async () => {
    const user = hex24();
    const first = created(user);
    const missingField = created(user) as unknown as { data: Record<string, unknown> };
    delete missingField.data.createdAt;
    const foreignKey = { ...created(hex24()), key: user };
    const last = created(user);
    await producer.send([first]);
    await producer.sendRaw(config.TASK_EVENTS_TOPIC, user, 'this is not JSON', {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    await producer.sendRaw(config.TASK_EVENTS_TOPIC, user, JSON.stringify(missingField));
    await producer.sendRaw(config.TASK_EVENTS_TOPIC, user, JSON.stringify(foreignKey));
    await producer.send([last]);
    await producer.drained(config);

    expect((await me(user)).tasksCreated).toBe(2);
    const letters = await readDeadLetters(producer.kafka, topicsOf(config).deadLetters);
    expect(letters.map((l) => [l.kind, l.reason])).toEqual([
      ['invalid', 'message value is not JSON'],
      ['invalid', expect.stringMatching(/^TaskCreated: \/data\/createdAt /)],
      ['invalid', expect.stringMatching(/^TaskCreated: key "[0-9a-f]{24}" is not the owner/)],
    ]);
    for (const l of letters) {
      expect(l.key).toBe(user);
      expect(l.originalTopic).toBe(config.TASK_EVENTS_TOPIC);
      expect(l.headers[DLQ_HEADERS.group]).toBe(config.KAFKA_GROUP_ID);
    }
    // The original headers travel with the dead letter, so a replay keeps the trace.
    expect(letters[0]!.headers.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(letters[0]!.value?.toString()).toBe('this is not JSON');
    expect(await metricValue(app, 'analytics_dead_letters_total', { kind: 'invalid' })).toBe(3);
    expect(await metricValue(app, 'analytics_events_processed_total', { outcome: 'dead_lettered' })).toBe(3);
    expect(await metricValue(app, 'analytics_events_processed_total', { type: 'unknown', outcome: 'dead_lettered' })).toBe(1);
  });

  it('when an event fails 3 times, then it is dead-lettered with its attempts, the partition moves on, and a replay from the dead-letter topic applies it once', async () => {
    const user = hex24();
    const task = created(user);
    const completedAt = new Date(Date.parse((task.data as { createdAt: string }).createdAt) + 3_600_000);
    const completion = envelope(
      'TaskCompleted',
      user,
      {
        taskId: (task.data as { taskId: string }).taskId,
        ownerId: user,
        previousStatus: 'todo' as const,
        createdAt: (task.data as { createdAt: string }).createdAt,
        completedAt: completedAt.toISOString(),
        version: 2,
      },
      completedAt,
    ) as DomainEvent;
    const after = created(user);
    failing.add(completion.id);
    await producer.send([task, completion, after]);
    await producer.drained(config);

    expect(await me(user)).toMatchObject({ tasksCreated: 2, tasksCompleted: 0, tasksOpen: 2 });
    const letters = (await readDeadLetters(producer.kafka, topicsOf(config).deadLetters)).filter((l) => l.kind === 'failed');
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      eventId: completion.id,
      eventType: 'TaskCompleted',
      attempts: 3,
      reason: `failed 3 times: the store refused ${completion.id}`,
    });
    expect(await metricValue(app, 'analytics_events_processed_total', { type: 'TaskCompleted', outcome: 'error' })).toBe(3);

    // The operator's tool lists it and replays it once the cause is gone.
    failing.clear();
    const listed = cli(config, ['list']);
    expect(listed.status, listed.stderr).toBe(0);
    const rows = listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { eventId: string | null; kind: string; reason: string });
    expect(rows).toHaveLength(4);
    expect(rows.find((r) => r.eventId === completion.id)).toMatchObject({
      kind: 'failed',
      reason: `failed 3 times: the store refused ${completion.id}`,
    });

    const replayed = cli(config, ['replay', '--id', completion.id]);
    expect(replayed.status, replayed.stderr).toBe(0);
    expect(replayed.stderr).toContain('1 dead letter(s) replayed');
    await producer.drained(config);
    expect(await me(user)).toMatchObject({ tasksCreated: 2, tasksCompleted: 1, tasksOpen: 1, averageCompletionMs: 3_600_000 });

    // Replaying everything again: the completion is a duplicate now, the invalid ones fail again.
    const hitsBefore = await metricValue(app, 'analytics_dedup_hits_total');
    const again = await replayDeadLetters(producer.kafka, producer.producer, topicsOf(config), { all: true });
    expect(again).toHaveLength(4);
    await producer.drained(config);
    expect(await me(user)).toMatchObject({ tasksCreated: 2, tasksCompleted: 1, tasksOpen: 1 });
    expect(await metricValue(app, 'analytics_dedup_hits_total')).toBe(hitsBefore + 1);
    expect(await metricValue(app, 'analytics_dead_letters_total', { kind: 'invalid' })).toBe(6);
  });

  it('when the tool is called without a selection, then it refuses with a usage message', () => {
    const r = cli(config, ['replay']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('replay needs --all, --id or --at');
  });
});
