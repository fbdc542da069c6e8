import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EventProducer, createKafka, ensureTopics, type Kafka } from '../src/index.js';

describe('an idle connection', () => {
  let kafka: Kafka;
  let producer: EventProducer;

  beforeAll(async () => {
    kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: 'kafka-idle-test' });
    producer = new EventProducer(kafka);
    await producer.connect();
    // A request and its answer: in kafkajs 2.2.4 this starts the connection's re-arming check timer.
    await ensureTopics(kafka, [{ topic: `test.idle.${Date.now()}` }]);
  });
  afterAll(() => producer.disconnect());

  it('when nothing is sent for a second, then the connections arm a handful of timers, not one a millisecond', async () => {
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
});
