import { createServiceApp } from '@taskmesh/fastify-plugins';
import { createKafka, pingKafka } from '@taskmesh/kafka';
import { mongoPlugin } from '@taskmesh/mongo';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';

export interface AppOptions {
  /** pino level, or false for silence in tests. */
  readonly logLevel?: string | false;
}

/** Builds the analytics service; never listens and never reads process.env. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = await createServiceApp({ service: 'analytics', logLevel: opts.logLevel ?? config.LOG_LEVEL });
  await app.register(mongoPlugin, { uri: config.MONGODB_URI, dbName: config.MONGODB_DB, maxPoolSize: config.MONGODB_MAX_POOL_SIZE, appName: 'analytics' });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS.split(','), clientId: 'analytics', log: app.log });
  app.readiness.add('kafka', () => pingKafka(kafka));
  return app;
}
