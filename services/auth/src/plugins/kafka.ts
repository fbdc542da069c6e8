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
 * One Kafka client and idempotent producer per process. The producer connects on first send,
 * not here: the service starts (and logins work) while Kafka is down, and readiness says so.
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
  { name: 'auth-kafka', dependencies: ['@taskmesh/health', '@taskmesh/metrics'] },
);
