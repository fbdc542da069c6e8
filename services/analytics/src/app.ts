import { accessTokenPlugin, createAccessTokenVerifier } from '@taskmesh/access-token';
import { createServiceApp, openApiPlugin } from '@taskmesh/service-kit';
import { kafkaPlugin, parseBrokers } from '@taskmesh/kafka';
import { mongoOptionsFrom, mongoPlugin } from '@taskmesh/mongo';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { errors } from './errors.js';
import { StatsRepository } from './domain/stats/stats-repository.js';
import { statsEvents, statsTopics } from './events/index.js';
import type { ProcessingHooks } from './events/stats-handler.js';
import { analyticsRoutes } from './routes/analytics/index.js';

export interface AppOptions {
  /** pino level, or false for silence in tests. */
  readonly logLevel?: string | false;
  /** The statistics consumer stopped for good; `server.ts` exits so that the process is restarted. */
  readonly onConsumerCrash?: (err: Error) => void;
  /** Seams around each store write (tests that make writes fail or the process die). */
  readonly hooks?: ProcessingHooks;
  /** The clock for per-day statistics (tests). */
  readonly now?: () => Date;
}

declare module 'fastify' {
  interface FastifyInstance {
    stats: StatsRepository;
  }
}

/** Builds the analytics service; never listens and never reads process.env. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = await createServiceApp({
    service: 'analytics',
    logLevel: opts.logLevel ?? config.LOG_LEVEL,
    unavailableError: errors.ANALYTICS_ERR_STORE_UNAVAILABLE,
  });
  await app.register(openApiPlugin, {
    title: 'taskmesh analytics',
    description: 'Live statistics kept from the user and task event streams',
  });
  await app.register(mongoPlugin, mongoOptionsFrom(config, 'analytics'));
  await app.register(kafkaPlugin, { brokers: parseBrokers(config.KAFKA_BROKERS), clientId: 'analytics' });
  await app.register(accessTokenPlugin, {
    verify: createAccessTokenVerifier({ jwksUrl: config.JWKS_URL, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
  });

  const stats = new StatsRepository(app.mongo.db, { dedupWindow: config.ANALYTICS_DEDUP_WINDOW, ...(opts.now ? { now: opts.now } : {}) });
  const { skipped } = await stats.ensureIndexes();
  // Only on a server without hashed indexes (the local single-node store): it only matters for sharding.
  for (const s of skipped) app.log.info({ index: s.name, reason: s.reason }, 'index not created; carrying on');
  app.decorate('stats', stats);

  await app.register(statsEvents, {
    stats,
    groupId: config.KAFKA_GROUP_ID,
    topics: statsTopics(config.KAFKA_GROUP_ID, config.USER_EVENTS_TOPIC, config.TASK_EVENTS_TOPIC),
    partitions: config.KAFKA_TOPIC_PARTITIONS,
    partitionsConcurrently: config.KAFKA_PARTITIONS_CONCURRENTLY,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    maxAttempts: config.ANALYTICS_MAX_ATTEMPTS,
    // A redelivery covers at most the messages since the last commit; half the window leaves
    // room for the user's events arriving meanwhile from the other topics.
    commitEvery: Math.max(1, Math.floor(config.ANALYTICS_DEDUP_WINDOW / 2)),
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.onConsumerCrash ? { onCrash: opts.onConsumerCrash } : {}),
  });

  await app.register(analyticsRoutes, { stats });
  return app;
}
