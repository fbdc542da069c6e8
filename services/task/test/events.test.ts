import { randomUUID } from 'node:crypto';
import { decodeEvent, type TaskEvent } from '@taskmesh/events';
import type { ConsumedMessage } from '@taskmesh/kafka';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OwnerMarker } from '../src/domain/outbox/outbox-owners.js';
import type { TaskDocument } from '../src/domain/tasks/task-document.js';
import { json, metricValue, readTopic, taskHarness, type TaskHarness } from './harness.js';

let h: TaskHarness;
let app: FastifyInstance;
let reader: Awaited<ReturnType<typeof readTopic>>;

beforeAll(async () => {
  h = await taskHarness(inject('infra'));
  app = await h.app();
  reader = await readTopic(h.config.KAFKA_BROKERS, h.config.TASK_EVENTS_TOPIC);
});

afterAll(async () => {
  await reader?.stop();
  await h?.close();
});

const db = () => h.client.db(h.config.MONGODB_DB);

function eventsOf(ownerId: string): { message: ConsumedMessage; event: TaskEvent }[] {
  return reader.messages
    .filter((m) => m.key === ownerId)
    .map((message) => {
      const decoded = decodeEvent(message.value);
      if (!decoded.ok) throw new Error(`invalid event on the topic: ${decoded.reason}`);
      return { message, event: decoded.event as TaskEvent };
    });
}

async function caller(target: FastifyInstance, ownerId: string) {
  const token = await h.issuer.token(ownerId);
  return (opts: InjectOptions) => target.inject({ ...opts, headers: { authorization: `Bearer ${token}`, ...opts.headers } });
}

const metric = (name: string, from: FastifyInstance = app) => metricValue(from, name);

describe('task events', () => {
  it('when a task lives and is deleted, then its events arrive in order, valid, keyed by owner, and the tombstone goes', async () => {
    const ownerId = `user-${randomUUID()}`;
    const call = await caller(app, ownerId);
    const publishedBefore = await metric('task_outbox_published_total');
    const traceparent = `00-${randomUUID().replaceAll('-', '')}-${'a'.repeat(16)}-01`;

    const created = await call({
      method: 'POST',
      url: '/tasks',
      payload: { title: 'ship it', dueAt: '2031-01-01T00:00:00.000Z' },
      headers: { traceparent },
    });
    const task = json<{ id: string; createdAt: string }>(created);
    await call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { title: 'ship it now', tags: ['urgent'] } });
    const done = json<{ completedAt: string }>(await call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { status: 'done' } }));
    await call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { status: 'todo' } });
    expect((await call({ method: 'DELETE', url: `/tasks/${task.id}` })).statusCode).toBe(204);

    await expect.poll(() => eventsOf(ownerId).length, { timeout: 20_000 }).toBe(5);
    const events = eventsOf(ownerId);
    expect(events.map((e) => e.event.type)).toEqual(['TaskCreated', 'TaskUpdated', 'TaskCompleted', 'TaskUpdated', 'TaskDeleted']);
    expect(events.map((e) => e.event.data.version)).toEqual([1, 2, 3, 4, 5]);
    for (const { message, event } of events) {
      expect(event.key).toBe(ownerId);
      expect(event.data).toMatchObject({ taskId: task.id, ownerId });
      expect(message.headers['event-id']).toBe(event.id);
      expect(message.headers['event-type']).toBe(event.type);
    }
    expect(events[0]!.message.headers.traceparent).toBe(traceparent);
    expect(events[0]!.event.data).toMatchObject({ status: 'todo', dueAt: '2031-01-01T00:00:00.000Z', createdAt: task.createdAt });
    expect(events[1]!.event.data).toMatchObject({ status: 'todo', previousStatus: 'todo', changed: ['title', 'tags'] });
    expect(events[2]!.event.data).toMatchObject({ previousStatus: 'todo', createdAt: task.createdAt, completedAt: done.completedAt });
    expect(events[3]!.event.data).toMatchObject({ status: 'todo', previousStatus: 'done', changed: ['status'] });
    expect(events[4]!.event.data).toMatchObject({ status: 'todo' });

    await expect
      .poll(
        () =>
          db()
            .collection<TaskDocument>('tasks')
            .countDocuments({ ownerId, _id: new ObjectId(task.id) }),
        { timeout: 10_000 },
      )
      .toBe(0);
    await expect
      .poll(async () => (await db().collection<OwnerMarker>('outbox_owners').findOne({ _id: ownerId }))?.nextRunAt, { timeout: 10_000 })
      .toBeNull();
    expect(await metric('task_outbox_published_total')).toBeGreaterThanOrEqual(publishedBefore + 5);
    expect(await metric('task_outbox_backlog')).toBe(0);
  });

  it('when two instances serve one owner at once, then each event is sent once and in the order of the writes', async () => {
    const second = await h.app();
    const owners = Array.from({ length: 3 }, () => `user-${randomUUID()}`);
    const expected = new Map<string, string[]>();

    await Promise.all(
      owners.map(async (ownerId) => {
        const calls = [await caller(app, ownerId), await caller(second, ownerId)];
        const log: string[] = [];
        const ids: string[] = [];
        for (let i = 0; i < 20; i++) {
          const call = calls[i % 2]!;
          if (i < 4) {
            const t = json<{ id: string }>(await call({ method: 'POST', url: '/tasks', payload: { title: `t${i}` } }));
            ids.push(t.id);
            log.push(`TaskCreated ${t.id} 1`);
          } else {
            const id = ids[i % 4]!;
            const res = await call({ method: 'PATCH', url: `/tasks/${id}`, payload: { title: `change ${i}` } });
            expect(res.statusCode).toBe(200);
            log.push(`TaskUpdated ${id} ${json<{ version: number }>(res).version}`);
          }
        }
        expected.set(ownerId, log);
      }),
    );

    await expect.poll(() => owners.reduce((n, o) => n + eventsOf(o).length, 0), { timeout: 30_000 }).toBe(60);
    // Both relays took part, so the leases, not luck, kept each owner's order.
    expect(await metric('task_outbox_published_total', second)).toBeGreaterThan(0);
    for (const ownerId of owners) {
      const got = eventsOf(ownerId).map(({ event }) => `${event.type} ${event.data.taskId} ${event.data.version}`);
      expect(got).toEqual(expected.get(ownerId));
      expect(new Set(eventsOf(ownerId).map((e) => e.event.id)).size).toBe(20);
    }
  });
});

describe('shard-key watcher', () => {
  // Order-independent: this test's own commands prove the watcher listens, and the harness fails
  // the file at close if any command of any test did not name its owner.
  it('when commands run on the tasks collection, then the watcher sees them and every one named one owner', async () => {
    expect(await h.watchedCommands(app)).toBeGreaterThan(0);
    expect(h.watcher.violations).toEqual([]);
  });
});
