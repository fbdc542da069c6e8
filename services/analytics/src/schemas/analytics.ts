import { Type, type Static } from '@sinclair/typebox';
import { tokenErrors } from '@taskmesh/access-token';
import * as kit from '@taskmesh/service-kit';
import { errors } from '../errors.js';

const Count = Type.Integer({
  description: 'A count; tasksOpen can dip below zero only while an earlier event is held in the dead-letter topic',
});

export const DayCountSchema = Type.Object(
  { date: Type.String({ format: 'date', description: 'UTC day' }), count: Type.Integer({ minimum: 0 }) },
  { $id: 'DayCount', additionalProperties: false },
);
export type DayCount = Static<typeof DayCountSchema>;

/** 30 days up to `today`, with `counts` on the last ones: for the examples. */
function lastDays(today: string, counts: number[]): DayCount[] {
  const end = Date.parse(`${today}T00:00:00Z`);
  return Array.from({ length: 30 }, (_, i) => ({
    date: new Date(end - (29 - i) * 86_400_000).toISOString().slice(0, 10),
    count: counts[i - (30 - counts.length)] ?? 0,
  }));
}

// Unsafe: a reference by name is not typed by TypeBox; this one is known to be a DayCount.
const Days = Type.Array(Type.Unsafe<DayCount>(Type.Ref('DayCount')), { description: 'The last 30 days, oldest first, today (UTC) last' });

const completion = {
  averageCompletionMs: Type.Integer({ minimum: 0, description: 'Mean time from creation to completion; 0 before the first completion' }),
  completionTimeMsTotal: Type.Integer({ minimum: 0, description: 'Sum of creation-to-completion times' }),
  completionCount: Type.Integer({ minimum: 0, description: 'Completions in that sum' }),
};

export const UserStatsSchema = Type.Object(
  {
    userId: Type.String(),
    tasksCreated: Count,
    tasksCompleted: Count,
    tasksDeleted: Count,
    tasksOpen: Count,
    completedPerDay: Days,
    ...completion,
  },
  {
    $id: 'UserStats',
    additionalProperties: false,
    examples: [
      {
        userId: '0b8e1a52-8d1e-4c55-9a51-6a3f0c1f7d2e',
        tasksCreated: 3,
        tasksCompleted: 1,
        tasksDeleted: 1,
        tasksOpen: 1,
        completedPerDay: lastDays('2026-12-01', [1]),
        averageCompletionMs: 5400000,
        completionTimeMsTotal: 5400000,
        completionCount: 1,
      },
    ],
  },
);

export type UserStats = Static<typeof UserStatsSchema>;

export const OverviewSchema = Type.Object(
  {
    usersRegistered: Count,
    tasksCreated: Count,
    tasksCompleted: Count,
    tasksDeleted: Count,
    tasksOpen: Count,
    createdPerDay: Days,
    completedPerDay: Days,
    ...completion,
  },
  { $id: 'Overview', additionalProperties: false },
);
export type OverviewStats = Static<typeof OverviewSchema>;

const token401 = () => kit.errorResponse('No valid access token', kit.codesWithStatus(401, tokenErrors));
const unavailable503 = () =>
  kit.errorResponse(
    'The statistics store or the signing keys cannot be reached; try again after Retry-After',
    [...kit.codesWithStatus(503, errors, tokenErrors)],
    kit.RETRY_AFTER,
  );

/** Every answer of each operation: what it returns, and each failure with the codes it carries. */
export const AnalyticsResponses: Record<'me' | 'overview', kit.ResponseSchemas> = {
  me: {
    200: { ...Type.Ref('UserStats'), description: "The caller's statistics" },
    401: token401(),
    503: unavailable503(),
  },
  overview: {
    200: { ...Type.Ref('Overview'), description: 'Statistics across all users' },
    401: token401(),
    403: kit.errorResponse('The caller is not an admin', kit.codesWithStatus(403, tokenErrors)),
    503: unavailable503(),
  },
};
