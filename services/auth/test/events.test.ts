import { randomUUID } from 'node:crypto';
import { EVENT_EXAMPLES, TOPICS, decodeEvent, validateEvent, type UserRegistered } from '@taskmesh/events';
import { createKafka, startConsumer, type ConsumedMessage, type ConsumerHandle } from '@taskmesh/kafka';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../../scripts/infra-lib.mjs';
import { ADMIN_EMAIL, metricValue, register, startApp, stopApp, testConfig } from './harness.js';

describe('UserRegistered events', () => {
  const received: ConsumedMessage[] = [];
  let consumer: ConsumerHandle;
  const opened: FastifyInstance[] = [];
  const open = async (...args: Parameters<typeof startApp>) => {
    const app = await startApp(...args);
    opened.push(app);
    return app;
  };
  const messagesFor = (userId: string) => received.filter((m) => m.key === userId);

  beforeAll(async () => {
    // The app creates the topic at start; the consumer needs it to exist before subscribing.
    await open();
    const kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: 'auth-test' });
    consumer = await startConsumer(kafka, {
      groupId: `auth-test-${randomUUID()}`,
      topics: [TOPICS.userEvents],
      fromBeginning: true,
      handle: async (m) => void received.push(m),
    });
  });
  afterAll(async () => {
    await consumer?.stop();
    for (const app of opened.reverse()) await stopApp(app);
  });

  it('when a user registers, then one UserRegistered arrives on its topic, keyed by the user id, valid against its contract, and the outbox is cleared', async () => {
    const app = await open();
    const user = await register(app, ADMIN_EMAIL);

    await expect.poll(() => messagesFor(user.id).length, { timeout: 20_000, interval: 100 }).toBe(1);
    const message = messagesFor(user.id)[0]!;
    const decoded = decodeEvent(message.value);
    expect(decoded).toMatchObject({ ok: true });
    const event = (decoded as { event: UserRegistered }).event;
    expect(event).toMatchObject({
      type: 'UserRegistered',
      version: 1,
      key: user.id,
      data: { userId: user.id, role: 'admin', registeredAt: user.createdAt },
    });
    // Same shape as the contract's own example: no field more, none less.
    expect(Object.keys(event).sort()).toEqual(Object.keys(EVENT_EXAMPLES.UserRegistered).sort());
    expect(Object.keys(event.data).sort()).toEqual(Object.keys(EVENT_EXAMPLES.UserRegistered.data).sort());
    expect(message.headers).toMatchObject({ 'event-type': 'UserRegistered', 'event-id': event.id });

    const users = app.mongo.db.collection('users');
    await expect
      .poll(async () => (await users.findOne({ _id: user.id as never }))?.outbox, { timeout: 5000, interval: 100 })
      .toBeUndefined();
    expect(await users.findOne({ _id: user.id as never })).not.toHaveProperty('outboxAt');
    expect(await metricValue(app, 'auth_outbox_published_total')).toBe(1);
    expect(await metricValue(app, 'kafka_messages_produced_total', { topic: TOPICS.userEvents })).toBe(1);
    expect(await metricValue(app, 'auth_registrations_total')).toBe(1);
  });

  it('when Kafka is down at registration, then the user is stored with its event, auth stays ready with Kafka reported failing, and the relay publishes the event once Kafka answers', async () => {
    const config = testConfig({ OUTBOX_RELAY_INTERVAL_MS: '100', OUTBOX_RELAY_GRACE_MS: '0' });
    const down = await open({ ...config, KAFKA_BROKERS: `127.0.0.1:${await freePort()}` });

    const user = await register(down);
    expect(user.role).toBe('user');
    const users = down.mongo.db.collection('users');
    const stored = await users.findOne({ _id: user.id as never });
    expect(stored?.outbox).toHaveLength(1);
    expect(validateEvent(stored!.outbox[0])).toMatchObject({ ok: true });
    const eventId = stored!.outbox[0].id as string;

    // Still ready: the outbox holds the event, so a Kafka outage must not take auth out of its Service.
    const ready = await down.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toMatchObject({ kafka: { ok: false, required: false }, mongo: { ok: true } });
    expect(messagesFor(user.id)).toHaveLength(0);

    // Another replica (or this one after Kafka returns) with a reachable broker relays it.
    const up = await open(config);
    await expect.poll(() => messagesFor(user.id).length, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    expect(messagesFor(user.id).every((m) => (decodeEvent(m.value) as { event: UserRegistered }).event.id === eventId)).toBe(true);
    await expect
      .poll(async () => (await users.findOne({ _id: user.id as never }))?.outbox, { timeout: 5000, interval: 100 })
      .toBeUndefined();
    await expect.poll(() => metricValue(up, 'auth_outbox_backlog'), { timeout: 5000, interval: 100 }).toBe(0);
    expect((await up.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});
