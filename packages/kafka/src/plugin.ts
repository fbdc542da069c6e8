import '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Kafka } from 'kafkajs';
import { pingKafka } from './admin.js';
import { createKafka, type TopicDefaults } from './client.js';
import { EventProducer } from './producer.js';

declare module 'fastify' {
  interface FastifyInstance {
    kafka: { client: Kafka; producer: EventProducer };
  }
}

export interface KafkaPluginOptions {
  /** `host:port` of one or more brokers. */
  readonly brokers: readonly string[];
  /** Shows in broker logs and quotas; usually the service name. */
  readonly clientId: string;
  /** How the topics this service creates are replicated. @default the cluster's configuration (see `clusterTopicDefaults`) */
  readonly topicDefaults?: TopicDefaults;
}

/**
 * One Kafka client and one idempotent producer per process, as `app.kafka`. The producer
 * connects on first send, not here: the service starts while Kafka is down, and readiness
 * reports it without turning 503. Producers and consumers made from the client count into the app's registry
 * (`kafka_messages_*_total`, `kafka_consumer_lag`).
 */
export const kafkaPlugin = fp<KafkaPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const client = createKafka({
      brokers: opts.brokers,
      clientId: opts.clientId,
      log: app.log,
      metrics: app.metrics,
      ...(opts.topicDefaults ? { topicDefaults: opts.topicDefaults } : {}),
    });
    const producer = new EventProducer(client);
    app.decorate('kafka', { client, producer });
    // Reported, never required: writes wait in the outbox and consumers resume from their
    // offsets, so a Kafka outage must not take the service out of its Service's endpoints.
    app.readiness.add('kafka', () => pingKafka(client), { required: false });
    app.addHook('onClose', async () => {
      await producer.disconnect().catch((err: unknown) => app.log.warn({ err }, 'kafka producer did not disconnect cleanly'));
    });
  },
  { name: '@taskmesh/kafka', dependencies: ['@taskmesh/health', '@taskmesh/metrics'] },
);

/** Splits a `KAFKA_BROKERS` value (`host:port,host:port`). */
export const parseBrokers = (value: string): string[] =>
  value
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
