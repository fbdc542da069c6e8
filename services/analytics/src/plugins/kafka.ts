import '@taskmesh/fastify-plugins';
import { EventProducer, createKafka, pingKafka, type Kafka } from '@taskmesh/kafka';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    kafka: { client: Kafka; producer: EventProducer };
  }
}

export interface KafkaPluginOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
}

/**
 * One Kafka client per process, and the producer that writes dead letters. The producer
 * connects on first send; readiness reports whether the cluster answers. Producers and
 * consumers made from the client count into the app's registry (`kafka_messages_*_total`,
 * `kafka_consumer_lag` as the consumer sees it).
 */
export const kafkaPlugin = fp<KafkaPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const client = createKafka({ brokers: opts.brokers, clientId: opts.clientId, log: app.log, metrics: app.metrics });
    const producer = new EventProducer(client);
    app.decorate('kafka', { client, producer });
    app.readiness.add('kafka', () => pingKafka(client));
    app.addHook('onClose', async () => {
      await producer.disconnect().catch((err: unknown) => app.log.warn({ err }, 'kafka producer did not disconnect cleanly'));
    });
  },
  { name: 'analytics-kafka', dependencies: ['@taskmesh/health'] },
);
