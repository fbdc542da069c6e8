import { bearerSecurity } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import type { StatsRepository } from '../../domain/stats/stats-repository.js';
import { AnalyticsResponses, DayCountSchema, OverviewSchema, UserStatsSchema } from '../../schemas/analytics.js';

export interface AnalyticsRoutesOptions {
  readonly stats: StatsRepository;
}

/** `GET /analytics/me` and `GET /analytics/overview`; the caller's identity is the verified token's. */
export async function analyticsRoutes(app: FastifyInstance, opts: AnalyticsRoutesOptions): Promise<void> {
  app.addSchema(DayCountSchema);
  app.addSchema(UserStatsSchema);
  app.addSchema(OverviewSchema);

  app.get(
    '/analytics/me',
    {
      preHandler: app.authenticate,
      schema: {
        operationId: 'myStatistics',
        summary: "The caller's statistics",
        description: 'Counts kept from the event streams; zeros for a user without events yet.',
        tags: ['analytics'],
        security: bearerSecurity,
        response: AnalyticsResponses.me,
      },
    },
    async (request) => opts.stats.userStats(request.principal!.userId),
  );

  app.get(
    '/analytics/overview',
    {
      preHandler: [app.authenticate, app.requireRole('admin')],
      schema: {
        operationId: 'overview',
        summary: 'Global statistics (admin only)',
        tags: ['analytics'],
        security: bearerSecurity,
        response: AnalyticsResponses.overview,
      },
    },
    async () => opts.stats.overview(),
  );
}
