import { accessTokenPlugin, createAccessTokenVerifier } from '@taskmesh/access-token';
import { kafkaPlugin, parseBrokers } from '@taskmesh/kafka';
import { mongoOptionsFrom, mongoPlugin } from '@taskmesh/mongo';
import { createServiceApp, openApiPlugin } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { errors } from './errors.js';
import { statsEvents, statsTopics } from './events/index.js';
import type { ProcessingHooks } from './events/stats-handler.js';
import { statsCachePlugin } from './plugins/cache.js';
import { statsPlugin } from './plugins/stats.js';
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

/** Builds the analytics service; never listens and never reads process.env. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = await createServiceApp({
    service: 'analytics',
    logLevel: opts.logLevel ?? config.LOG_LEVEL,
    unavailableError: errors.ANALYTICS_ERR_STORE_UNAVAILABLE,
  });

  // Shared plugins (packages/): the API document, the stores, Kafka, access tokens.
  await app.register(openApiPlugin, {
    title: 'taskmesh analytics',
    description: 'Live statistics kept from the user and task event streams',
  });
  await app.register(mongoPlugin, mongoOptionsFrom(config, 'analytics'));
  await app.register(kafkaPlugin, { brokers: parseBrokers(config.KAFKA_BROKERS), clientId: 'analytics' });
  await app.register(accessTokenPlugin, {
    verify: createAccessTokenVerifier({ jwksUrl: config.JWKS_URL, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
  });

  // The service's own plugins (src/plugins/), each decorating the app with what it builds.
  await app.register(statsCachePlugin, {
    redis: { url: config.REDIS_URL, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS },
    ttlSeconds: config.CACHE_TTL_SECONDS,
    keyPrefix: config.MONGODB_DB,
  });
  await app.register(statsPlugin, { dedupWindow: config.ANALYTICS_DEDUP_WINDOW, ...(opts.now ? { now: opts.now } : {}) });

  // Entry points (src/events/, src/routes/).
  await app.register(statsEvents, {
    stats: app.stats,
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
  await app.register(analyticsRoutes);
  return app;
}
