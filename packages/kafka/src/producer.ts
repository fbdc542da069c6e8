import { Partitioners, type Kafka, type Producer } from 'kafkajs';

export interface OutgoingMessage {
  /** Partitioning key: messages with one key stay in order on one partition. */
  readonly key: string;
  /** Serialized as JSON unless already a string or Buffer. */
  readonly value: unknown;
  readonly headers?: Record<string, string>;
}

/**
 * An idempotent producer (the broker drops duplicates from producer retries) with one request in
 * flight, so a retried batch cannot overtake the next one: per-key order holds.
 */
export class EventProducer {
  private readonly producer: Producer;
  private connected = false;

  constructor(kafka: Kafka) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.producer.on(this.producer.events.DISCONNECT, () => {
      this.connected = false;
    });
  }

  get isConnected(): boolean {
    return this.connected;
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    this.connected = true;
  }

  /** Sends and waits for all in-sync replicas to acknowledge. */
  async send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.connect();
    await this.producer.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({
        key: m.key,
        value: typeof m.value === 'string' || Buffer.isBuffer(m.value) ? m.value : JSON.stringify(m.value),
        ...(m.headers ? { headers: m.headers } : {}),
      })),
    });
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
    this.connected = false;
  }
}
