import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  EventProducer,
  consumerLag,
  createKafka,
  ensureTopics,
  pingKafka,
  startConsumer,
  type ConsumedMessage,
  type Kafka,
} from '../src/index.js';

const unique = (what: string) => `test.${what}.${randomUUID().slice(0, 8)}`;

describe('kafka package against the real broker', () => {
  let kafka: Kafka;
  let producer: EventProducer;

  beforeAll(async () => {
    kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: 'kafka-package-test' });
    producer = new EventProducer(kafka);
    await producer.connect();
  });
  afterAll(() => producer.disconnect());

  it('when the broker runs, then a metadata round trip succeeds', async () => {
    await expect(pingKafka(kafka)).resolves.toBeUndefined();
  });

  it('when a connection has nothing to send for a second, then it arms a handful of timers, not one a millisecond', async () => {
    // A request and its answer: in kafkajs 2.2.4 this starts the connection's re-arming check timer.
    await ensureTopics(kafka, [{ topic: unique('idle') }]);
    const original = globalThis.setTimeout;
    let armed = 0;
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
      armed++;
      return original(...args);
    }) as typeof setTimeout;
    try {
      await new Promise((resolve) => original(resolve, 1000));
    } finally {
      globalThis.setTimeout = original;
    }
    expect(armed).toBeLessThan(50);
  });

  it('when topics are ensured twice, then they are created once with the requested partitions', async () => {
    const topic = unique('ensure');
    expect(await ensureTopics(kafka, [{ topic, numPartitions: 2 }])).toEqual([topic]);
    expect(await ensureTopics(kafka, [{ topic, numPartitions: 2 }])).toEqual([]);
    const admin = kafka.admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.disconnect();
    expect(meta.topics[0]?.partitions).toHaveLength(2);
  });

  it('when sending to a topic that does not exist, then it fails: automatic creation is off', async () => {
    const lone = new EventProducer(createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: 'no-auto', retries: 1 }));
    await expect(lone.send(unique('missing'), [{ key: 'k', value: { a: 1 } }])).rejects.toThrow();
    await lone.disconnect();
  });

  it('when messages are sent with one key, then a consumer receives them in order with their headers', async () => {
    const topic = unique('order');
    await ensureTopics(kafka, [{ topic, numPartitions: 3 }]);
    const got: ConsumedMessage[] = [];
    const consumer = await startConsumer(kafka, { groupId: unique('g'), topics: [topic], handle: async (m) => void got.push(m) });
    try {
      for (let i = 0; i < 20; i++)
        await producer.send(topic, [
          { key: 'user-1', value: { i }, headers: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` } },
        ]);
      await expect.poll(() => got.length, { timeout: 30_000 }).toBe(20);
      expect(got.map((m) => JSON.parse(m.value!.toString()).i)).toEqual([...Array(20).keys()]);
      expect(new Set(got.map((m) => m.partition)).size).toBe(1);
      expect(got[0]!.key).toBe('user-1');
      expect(got[0]!.headers.traceparent).toMatch(/^00-a{32}-b{16}-01$/);
    } finally {
      await consumer.stop();
    }
  });

  it('when the handler fails on a message, then its offset is not committed and it is delivered again after the successes before it', async () => {
    const topic = unique('redeliver');
    const groupId = unique('g');
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    await producer.send(
      topic,
      [0, 1, 2, 3, 4].map((i) => ({ key: 'k', value: { i } })),
    );

    const seen: number[] = [];
    let failedOnce = false;
    const consumer = await startConsumer(kafka, {
      groupId,
      topics: [topic],
      handle: async (m) => {
        const i = JSON.parse(m.value!.toString()).i as number;
        if (i === 2 && !failedOnce) {
          failedOnce = true;
          throw new Error('transient failure on message 2');
        }
        seen.push(i);
      },
    });
    try {
      await expect.poll(() => seen.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(5);
      expect(seen).toEqual([0, 1, 2, 3, 4]);
    } finally {
      await consumer.stop();
    }
    const lag = await consumerLag(kafka, groupId, [topic]);
    expect(lag).toEqual([{ topic, partition: 0, lag: 0 }]);
  });

  it('when a consumer stops after handling without having committed, then a new member of the group gets the message again', async () => {
    const topic = unique('crash');
    const groupId = unique('g');
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    await producer.send(topic, [{ key: 'k', value: { i: 0 } }]);

    // The first member handles the message but its handler never returns: nothing is committed.
    let handledByFirst = 0;
    const first = await startConsumer(kafka, {
      groupId,
      topics: [topic],
      handle: async () => {
        handledByFirst++;
        await new Promise(() => {});
      },
    });
    await expect.poll(() => handledByFirst, { timeout: 30_000 }).toBe(1);
    const lagBefore = await consumerLag(kafka, groupId, [topic]);
    expect(lagBefore[0]?.lag ?? 1).toBe(1);
    void first.stop().catch(() => {});

    const second: number[] = [];
    const consumer = await startConsumer(kafka, {
      groupId,
      topics: [topic],
      handle: async (m) => void second.push(JSON.parse(m.value!.toString()).i),
    });
    try {
      await expect.poll(() => second.length, { timeout: 60_000 }).toBe(1);
      expect(second).toEqual([0]);
    } finally {
      await consumer.stop();
    }
  });
});
