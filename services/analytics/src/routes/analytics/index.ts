import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { StatsRepository } from '../../domain/stats/stats-repository.js';
import { DayCountSchema, ErrorSchema, OverviewSchema, UserStatsSchema } from './schemas.js';

export interface AnalyticsRoutesOptions {
  readonly stats: StatsRepository;
}

const error = (description: string) => ({ ...Type.Ref('Error'), description });

/** `GET /analytics/me` and `GET /analytics/overview`; the caller's identity is the verified token's. */
export async function analyticsRoutes(app: FastifyInstance, opts: AnalyticsRoutesOptions): Promise<void> {
  app.addSchema(DayCountSchema);
  app.addSchema(ErrorSchema);
  app.addSchema(UserStatsSchema);
  app.addSchema(OverviewSchema);

  app.get(
    '/analytics/me',
    {
      preHandler: app.authenticate,
      schema: {
        summary: "The caller's statistics",
        description: 'Counts kept from the event streams; zeros for a user without events yet.',
        tags: ['analytics'],
        security: [{ bearer: [] }],
        response: { 200: Type.Ref('UserStats'), 401: error('No valid access token'), 503: error('Statistics store unavailable') },
      },
    },
    async (request) => opts.stats.userStats(request.principal!.userId),
  );

  app.get(
    '/analytics/overview',
    {
      preHandler: [app.authenticate, app.requireRole('admin')],
      schema: {
        summary: 'Global statistics (admin only)',
        tags: ['analytics'],
        security: [{ bearer: [] }],
        response: {
          200: Type.Ref('Overview'),
          401: error('No valid access token'),
          403: error('The caller is not an admin'),
          503: error('Statistics store unavailable'),
        },
      },
    },
    async () => opts.stats.overview(),
  );
}
