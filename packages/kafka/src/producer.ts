import { context, type Context } from '@opentelemetry/api';
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { registryOf } from './client.js';
import { kafkaMetrics, type KafkaMetrics } from './metrics.js';
import { propagating, publishContext, traceHeaders } from './tracing.js';

export interface OutgoingMessage {
  /** Partitioning key: messages with one key stay in order on one partition. */
  readonly key: string;
  /** Serialized as JSON unless already a string or Buffer. */
  readonly value: unknown;
  /**
   * A `traceparent` here (saved with an outbox entry, see `traceHeaders`) makes the message part
   * of that trace; without one, the caller's current trace context is added.
   */
  readonly headers?: Record<string, string>;
}

export interface EventProducerOptions {
  /** Counts `kafka_messages_produced_total` here. @default the registry given to `createKafka`, if any */
  readonly metrics?: Registry;
}

/**
 * An idempotent producer (the broker drops duplicates from producer retries) with one request in
 * flight, so a retried batch cannot overtake the next one: per-key order holds.
 */
export class EventProducer {
  private readonly producer: Producer;
  private readonly metrics: KafkaMetrics | undefined;
  private connected = false;

  constructor(kafka: Kafka, opts: EventProducerOptions = {}) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    const registry = opts.metrics ?? registryOf(kafka);
    this.metrics = registry ? kafkaMetrics(registry) : undefined;
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

  /**
   * Sends and waits for all in-sync replicas to acknowledge. Messages that carry different trace
   * contexts (an outbox relay publishing for several requests) go out in consecutive requests, one
   * per context, in the given order.
   */
  async send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.connect();
    for (const run of runsByTraceContext(messages)) {
      await context.with(run.context, () =>
        this.producer.send({ topic, acks: -1, messages: run.messages.map((m) => toKafkaMessage(m, run.context)) }),
      );
    }
    this.metrics?.produced.inc({ topic }, messages.length);
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
    this.connected = false;
  }
}

function toKafkaMessage(m: OutgoingMessage, ctx: Context): Message {
  return {
    key: m.key,
    value: typeof m.value === 'string' || Buffer.isBuffer(m.value) ? m.value : JSON.stringify(m.value),
    headers: { ...m.headers, ...traceHeaders(ctx) },
  };
}

/** Consecutive messages with the same `traceparent` (or none) share one send. */
function runsByTraceContext(messages: readonly OutgoingMessage[]): { context: Context; messages: OutgoingMessage[] }[] {
  if (!propagating()) return [{ context: context.active(), messages: [...messages] }];
  const runs: { parent: string | undefined; context: Context; messages: OutgoingMessage[] }[] = [];
  for (const m of messages) {
    const parent = m.headers?.traceparent;
    const last = runs[runs.length - 1];
    if (last && last.parent === parent) last.messages.push(m);
    else runs.push({ parent, context: publishContext(m.headers), messages: [m] });
  }
  return runs;
}
