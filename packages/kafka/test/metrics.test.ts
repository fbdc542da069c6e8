import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EventProducer, createKafka, ensureTopics, startConsumer, traceHeaders, type Kafka } from '../src/index.js';

const unique = (what: string) => `test.${what}.${randomUUID().slice(0, 8)}`;

/** The value of one series, or undefined when it does not exist. */
async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l))?.value;
}

describe('kafka metrics against the real broker', () => {
  let registry: Registry;
  let kafka: Kafka;
  let producer: EventProducer;

  beforeAll(async () => {
    registry = new Registry();
    registry.setDefaultLabels({ service: 'kafka-metrics-test' });
    kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: 'kafka-metrics-test', metrics: registry });
    producer = new EventProducer(kafka);
    await producer.connect();
  });
  afterAll(() => producer.disconnect());

  it('when a consumer is held on a message, then its lag shows what is waiting, and falls to zero once it catches up', async () => {
    const topic = unique('lag');
    const group = unique('g');
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    await producer.send(
      topic,
      [0, 1, 2, 3, 4].map((i) => ({ key: 'k', value: { i } })),
    );
    expect(await value(registry, 'kafka_messages_produced_total', { topic })).toBe(5);

    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let handled = 0;
    const consumer = await startConsumer(kafka, {
      groupId: group,
      topics: [topic],
      handle: async () => {
        if (handled === 0) await held;
        handled++;
      },
    });
    try {
      await expect.poll(() => value(registry, 'kafka_consumer_lag', { topic, group, partition: '0' }), { timeout: 30_000 }).toBe(5);
      expect(await value(registry, 'kafka_messages_consumed_total', { topic, group })).toBeUndefined();
      release();
      await expect.poll(() => handled, { timeout: 30_000 }).toBe(5);
      await expect.poll(() => value(registry, 'kafka_consumer_lag', { topic, group, partition: '0' }), { timeout: 30_000 }).toBe(0);
      expect(await value(registry, 'kafka_messages_consumed_total', { topic, group })).toBe(5);
      const text = await registry.metrics();
      expect(text).toContain(`kafka_consumer_lag{topic="${topic}",partition="0",group="${group}",service="kafka-metrics-test"} 0`);
    } finally {
      release();
      await consumer.stop();
    }
    // A stopped member no longer speaks for the partition.
    expect(await value(registry, 'kafka_consumer_lag', { topic, group })).toBeUndefined();
  });

  it("when a producer is given its own registry, then it counts there and not in the client's", async () => {
    const topic = unique('own');
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const own = new Registry();
    const p = new EventProducer(kafka, { metrics: own });
    try {
      await p.send(topic, [{ key: 'k', value: 'v' }]);
      expect(await value(own, 'kafka_messages_produced_total', { topic })).toBe(1);
      expect(await value(registry, 'kafka_messages_produced_total', { topic })).toBeUndefined();
    } finally {
      await p.disconnect();
    }
  });

  it('when no tracing SDK runs, then messages keep exactly the headers they were given', async () => {
    const topic = unique('headers');
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const got: Record<string, string>[] = [];
    const consumer = await startConsumer(kafka, { groupId: unique('g'), topics: [topic], handle: async (m) => void got.push(m.headers) });
    try {
      await producer.send(topic, [
        { key: 'a', value: 1, headers: { 'x-origin': 'test' } },
        { key: 'b', value: 2 },
      ]);
      await expect.poll(() => got.length, { timeout: 30_000 }).toBe(2);
      expect(got).toEqual([{ 'x-origin': 'test' }, {}]);
      expect(traceHeaders()).toEqual({});
    } finally {
      await consumer.stop();
    }
  });
});
