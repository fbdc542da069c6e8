import { EventProducer, ensureTopics, type Kafka } from '@taskmesh/kafka';
import type { PendingEvent } from '../tasks/task-document.js';

/**
 * Sends pending events to the task topic, keyed by owner so one owner's events share a
 * partition. After any failure the producer is dropped and a fresh one is made for the next
 * attempt: a producer that lived through a broker outage may hold a stale idempotence session.
 */
export class EventPublisher {
  private producer: EventProducer | undefined;
  private topicReady = false;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
  ) {}

  /** Resolves once every event is acknowledged by the in-sync replicas, in the order given. */
  async publish(events: readonly PendingEvent[]): Promise<void> {
    if (events.length === 0) return;
    try {
      if (!this.topicReady) {
        await ensureTopics(this.kafka, [{ topic: this.topic }]);
        this.topicReady = true;
      }
      this.producer ??= new EventProducer(this.kafka);
      await this.producer.send(
        this.topic,
        events.map((p) => ({
          key: p.event.key,
          value: p.event,
          headers: {
            ...(p.headers ?? (p.traceparent ? { traceparent: p.traceparent } : {})),
            'event-id': p.event.id,
            'event-type': p.event.type,
          },
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
