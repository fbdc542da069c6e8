import { accessTokenPlugin, createAccessTokenVerifier } from '@taskmesh/access-token';
import { createServiceApp, openApiPlugin } from '@taskmesh/service-kit';
import { mongoOptionsFrom, mongoPlugin } from '@taskmesh/mongo';
import type { FastifyInstance } from 'fastify';
import type { MongoClient } from 'mongodb';
import type { Config } from './config.js';
import { outboxPlugin } from './plugins/outbox.js';
import { tasksPlugin } from './plugins/tasks.js';
import taskRoutes from './routes/tasks/index.js';

export interface AppOptions {
  /** pino level, or false for silence in tests. */
  readonly logLevel?: string | false;
  /** A MongoClient to use instead of one from MONGODB_URI (tests that watch commands); not closed by the app. */
  readonly mongoClient?: MongoClient;
}

/** Builds the task service; never listens and never reads process.env. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = await createServiceApp({ service: 'task', logLevel: opts.logLevel ?? config.LOG_LEVEL });
  // Fastify parses text/plain by default; here every body is JSON, anything else is a 415.
  app.removeContentTypeParser('text/plain');
  await app.register(openApiPlugin, {
    title: 'taskmesh task service',
    description: "Users' tasks; every route needs a bearer access token.",
  });
  await app.register(mongoPlugin, { ...mongoOptionsFrom(config, 'task'), ...(opts.mongoClient ? { client: opts.mongoClient } : {}) });
  await app.register(accessTokenPlugin, {
    verify: createAccessTokenVerifier({ jwksUrl: config.JWKS_URL, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
  });
  await app.register(outboxPlugin, {
    brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()),
    topic: config.TASK_EVENTS_TOPIC,
    pollMs: config.OUTBOX_POLL_MS,
    leaseMs: config.OUTBOX_LEASE_MS,
    settleMs: config.OUTBOX_SETTLE_MS,
    batchOwners: config.OUTBOX_BATCH_OWNERS,
    maxBackoffMs: config.OUTBOX_MAX_BACKOFF_MS,
  });
  await app.register(tasksPlugin, { cursorSecret: config.CURSOR_SECRET, settleMs: config.OUTBOX_SETTLE_MS });
  await app.register(taskRoutes);
  return app;
}
