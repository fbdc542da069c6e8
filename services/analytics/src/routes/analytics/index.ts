import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '@taskmesh/access-token';
import { bearerSecurity } from '@taskmesh/service-kit';
import { AnalyticsResponses, DayCountSchema, OverviewSchema, UserStatsSchema } from '../../schemas/analytics.js';

/** `GET /analytics/me` and `GET /analytics/overview`; the caller's identity is the verified token's. */
export const analyticsRoutes: FastifyPluginAsyncTypebox = async (app) => {
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
    async (request) => app.stats.userStats(principalOf(request).userId),
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
    async () => app.stats.overview(),
  );
};
