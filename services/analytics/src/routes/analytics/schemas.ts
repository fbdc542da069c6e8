import { Type } from '@sinclair/typebox';

const Count = Type.Integer({
  description: 'A count; tasksOpen can dip below zero only while an earlier event is held in the dead-letter topic',
});

export const DayCountSchema = Type.Object(
  { date: Type.String({ format: 'date', description: 'UTC day' }), count: Type.Integer({ minimum: 0 }) },
  { $id: 'DayCount', additionalProperties: false },
);

const Days = Type.Array(Type.Ref('DayCount'), { description: 'The last 30 days, oldest first, today (UTC) last' });

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
  { $id: 'UserStats', additionalProperties: false },
);

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

export const ErrorSchema = Type.Object({ code: Type.String(), message: Type.String() }, { $id: 'Error' });
