import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { StatsRepository, type StatsRepositoryOptions } from '../domain/stats/stats-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The statistics: written by the consumer, read by the routes. */
    stats: StatsRepository;
  }
}

/** The statistics repository, with the indexes its queries need created at start, reading through the cache. */
export const statsPlugin = fp<StatsRepositoryOptions>(
  async (app: FastifyInstance, opts) => {
    const stats = new StatsRepository(app.mongo.db, { ...opts, ...(app.statsCache ? { cache: app.statsCache } : {}) });
    const { skipped } = await stats.ensureIndexes();
    // Only on a server without hashed indexes (the local single-node store): it only matters for sharding.
    for (const s of skipped) app.log.info({ index: s.name, reason: s.reason }, 'index not created; carrying on');
    app.decorate('stats', stats);
  },
  { name: 'analytics-stats', dependencies: ['@taskmesh/mongo', 'user_stats-cache'] },
);
