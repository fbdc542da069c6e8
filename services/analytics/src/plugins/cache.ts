import { cachePlugin, type CacheAside } from '@taskmesh/redis';
import type { UserCounters } from '../domain/stats/stats-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Each user's counters in Redis, in front of `user_stats`; undefined when caching is off. */
    statsCache: CacheAside<UserCounters> | undefined;
  }
}

/**
 * The statistics cache (docs/analytics.md, Cache): the repository reads through it and invalidates
 * a user on each of its writes; its TTL bounds how stale a reader can be when an invalidation is lost.
 */
export const statsCachePlugin = cachePlugin<UserCounters>('statsCache', 'user_stats');
