import { EventProducer, ensureTopics, type Kafka } from '@taskmesh/kafka';

/** One stored event on its way to Kafka. */
export interface OutboxMessage {
  /** The Kafka message key: one key's messages share a partition and keep their order. */
  readonly key: string;
  /** The event envelope; its `id` and `type` travel as headers too. */
  readonly value: { readonly id: string; readonly type: string };
  /** Headers stored with the event (the writer's trace context). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The publishing side of a relay, so that a relay can be driven with any transport. */
export interface Publisher {
  /** Resolves once every message is acknowledged, in the order given. */
  publish(messages: readonly OutboxMessage[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Sends outbox messages to one topic over a producer of its own. The topic is created on first
 * use. After any failure the producer is dropped and a fresh one is made for the next attempt: a
 * producer that lived through a broker outage may hold a stale idempotence session (its sequence
 * numbers no longer match the broker's), and its retries would then be refused for good.
 */
export class OutboxPublisher implements Publisher {
  private producer: EventProducer | undefined;
  private topicReady = false;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
  ) {}

  /** Creates the topic if it is missing (consumers can then subscribe before the first event). */
  async prepare(): Promise<void> {
    if (this.topicReady) return;
    await ensureTopics(this.kafka, [{ topic: this.topic }]);
    this.topicReady = true;
  }

  async publish(messages: readonly OutboxMessage[]): Promise<void> {
    if (messages.length === 0) return;
    try {
      await this.prepare();
      this.producer ??= new EventProducer(this.kafka);
      await this.producer.send(
        this.topic,
        messages.map((m) => ({
          key: m.key,
          value: m.value,
          headers: { ...m.headers, 'event-id': m.value.id, 'event-type': m.value.type },
        })),
      );
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }
}
