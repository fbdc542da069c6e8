import { CacheAside, redisPlugin, type RedisSettings } from '@taskmesh/redis';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { UserCounters } from '../domain/stats/stats-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Each user's counters in Redis, in front of `user_stats`; undefined when caching is off. */
    statsCache: CacheAside<UserCounters> | undefined;
  }
}

export interface StatsCacheOptions {
  readonly redis: RedisSettings;
  /** At most this stale when an invalidation is lost; 0 turns the cache off (no Redis client at all). */
  readonly ttlSeconds: number;
  /** Keeps this service's keys apart from any other user of the same Redis, e.g. the database name. */
  readonly keyPrefix: string;
}

/**
 * The statistics cache (docs/analytics.md, Cache): Redis as an optional dependency, never required
 * for readiness; the repository reads through it and invalidates a user on each of its writes.
 */
export const statsCachePlugin = fp<StatsCacheOptions>(
  async (app: FastifyInstance, opts) => {
    if (opts.ttlSeconds === 0) {
      app.decorate('statsCache', undefined);
      return;
    }
    await app.register(redisPlugin, { ...opts.redis, readinessRequired: false });
    app.decorate(
      'statsCache',
      new CacheAside<UserCounters>(app.redis, {
        name: 'user_stats',
        keyPrefix: `${opts.keyPrefix}:user_stats:`,
        ttlSeconds: opts.ttlSeconds,
        registry: app.metrics,
        log: app.log,
      }),
    );
  },
  { name: 'analytics-stats-cache', dependencies: ['@taskmesh/health', '@taskmesh/metrics'] },
);
