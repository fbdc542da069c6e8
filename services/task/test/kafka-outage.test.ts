import { randomUUID } from 'node:crypto';
import { validateEvent, type TaskEvent } from '@taskmesh/events';
import { createKafka, ensureTopics } from '@taskmesh/kafka';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, startKafka, stopInstance, type Started } from '../../../scripts/infra-lib.mjs';
import type { TaskDocument } from '../src/domain/tasks/task-document.js';
import { json, metricValue, readTopic, taskHarness, type TaskHarness } from './harness.js';

let ports: { port: number; controllerPort: number };
let broker: Started & { brokers: string };
let h: TaskHarness;
let app: FastifyInstance;

beforeAll(async () => {
  ports = { port: await freePort(), controllerPort: await freePort() };
  broker = await startKafka(ports);
  h = await taskHarness(inject('infra'), { KAFKA_BROKERS: broker.brokers });
  app = await h.app();
  await ensureTopics(createKafka({ brokers: [broker.brokers], clientId: 'task-test-admin' }), [{ topic: h.config.TASK_EVENTS_TOPIC }]);
});

afterAll(async () => {
  await h?.close();
  if (broker) await stopInstance(broker);
});

const tasks = () => h.client.db(h.config.MONGODB_DB).collection<TaskDocument>('tasks');

const backlogMetric = () => metricValue(app, 'task_outbox_backlog');

/** Pending events and the documents holding them, read with one targeted query per owner. */
async function pending(owners: readonly string[]): Promise<{ docs: number; events: number }> {
  let docs = 0;
  let events = 0;
  for (const ownerId of owners) {
    for (const d of await tasks()
      .find({ ownerId, 'outbox.seq': { $gt: 0 } })
      .toArray()) {
      docs++;
      events += d.outbox.length;
    }
  }
  return { docs, events };
}

/** 50 writes spread over three owners, each owner's in sequence; returns what each owner should see. */
async function fiftyWrites(owners: readonly string[]): Promise<Map<string, string[]>> {
  const expected = new Map<string, string[]>();
  await Promise.all(
    owners.map(async (ownerId, o) => {
      const token = await h.issuer.token(ownerId);
      const call = async (opts: InjectOptions) => {
        const res = await app.inject({ ...opts, headers: { authorization: `Bearer ${token}` } });
        expect(res.statusCode, res.body).toBeLessThan(300);
        return res;
      };
      const log: string[] = [];
      const ids: string[] = [];
      const writes = o === 0 ? 18 : 16;
      for (let i = 0; i < writes; i++) {
        if (i < 5) {
          const t = json<{ id: string }>(await call({ method: 'POST', url: '/tasks', payload: { title: `t${i}` } }));
          ids.push(t.id);
          log.push(`TaskCreated ${t.id} 1`);
        } else if (i < writes - 2) {
          const id = ids[i % 5]!;
          const done = i % 3 === 0;
          const t = json<{ version: number }>(
            await call({ method: 'PATCH', url: `/tasks/${id}`, payload: done ? { status: 'done' } : { title: `w${i}` } }),
          );
          log.push(`${done ? 'TaskCompleted' : 'TaskUpdated'} ${id} ${t.version}`);
        } else {
          const id = ids[i - (writes - 2)]!;
          const version = json<{ version: number }>(await call({ method: 'GET', url: `/tasks/${id}` })).version;
          await call({ method: 'DELETE', url: `/tasks/${id}` });
          log.push(`TaskDeleted ${id} ${version + 1}`);
        }
      }
      expected.set(ownerId, log);
    }),
  );
  return expected;
}

describe('with the Kafka broker down', () => {
  it('when 50 task writes are made, then all succeed, and once the broker is back exactly those 50 events arrive in order per owner', async () => {
    const owners = [0, 1, 2].map(() => `user-${randomUUID()}`);
    await stopInstance(broker, { keepData: true });

    const expected = await fiftyWrites(owners);
    expect([...expected.values()].flat()).toHaveLength(50);
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);

    // Every event waits in its task document, and the backlog gauge counts those documents.
    const stored = await pending(owners);
    expect(stored.events).toBe(50);
    await expect.poll(backlogMetric, { timeout: 20_000 }).toBe(stored.docs);

    broker = await startKafka(ports);
    const reader = await readTopic(broker.brokers, h.config.TASK_EVENTS_TOPIC);
    try {
      await expect.poll(() => reader.messages.length, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(50);
      await expect.poll(() => pending(owners).then((p) => p.events), { timeout: 20_000 }).toBe(0);
      await expect.poll(backlogMetric, { timeout: 20_000 }).toBe(0);
      // The outbox is empty, so nothing else can still be on its way.
      expect(reader.messages).toHaveLength(50);

      const events = reader.messages.map((m) => {
        const checked = validateEvent(JSON.parse(m.value!.toString('utf8')));
        expect(checked.ok, checked.ok ? '' : checked.reason).toBe(true);
        const event = (checked as { event: TaskEvent }).event;
        expect(m.key).toBe(event.key);
        return event;
      });
      expect(new Set(events.map((e) => e.id)).size).toBe(50);
      for (const ownerId of owners) {
        const got = events.filter((e) => e.key === ownerId).map((e) => `${e.type} ${e.data.taskId} ${e.data.version}`);
        expect(got).toEqual(expected.get(ownerId));
      }
      // Tombstones leave once their TaskDeleted is out.
      await expect.poll(() => tasks().countDocuments({ ownerId: owners[0]!, deletedAt: { $ne: null } }), { timeout: 10_000 }).toBe(0);
    } finally {
      await reader.stop();
    }
  }, 180_000);

  // Order-independent: this test's own commands prove the watcher listens, and the harness fails
  // the file at close if any command of any test did not name its owner.
  it('when commands run on the tasks collection, then the watcher sees them and every one named one owner', async () => {
    expect(await h.watchedCommands(app)).toBeGreaterThan(0);
    expect(h.watcher.violations).toEqual([]);
  });
});
