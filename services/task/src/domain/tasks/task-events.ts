import {
  envelope,
  type TaskCompleted,
  type TaskCreated,
  type TaskDeleted,
  type TaskEvent,
  type TaskStatus,
  type TaskUpdated,
} from '@taskmesh/events';

/** The task as it was before a change, as far as events need it. */
export interface TaskBefore {
  readonly id: string;
  readonly ownerId: string;
  readonly status: TaskStatus;
  readonly createdAt: Date;
  readonly version: number;
}

export function taskCreated(t: { id: string; ownerId: string; status: TaskStatus; dueAt: Date | null; createdAt: Date }): TaskCreated {
  return envelope(
    'TaskCreated',
    t.ownerId,
    {
      taskId: t.id,
      ownerId: t.ownerId,
      status: t.status,
      dueAt: t.dueAt?.toISOString() ?? null,
      createdAt: t.createdAt.toISOString(),
      version: 1,
    },
    t.createdAt,
  );
}

/**
 * The event for a change: `TaskCompleted` when the task moved to `done`, else `TaskUpdated`
 * with the names of the fields that changed.
 */
export function taskChanged(before: TaskBefore, status: TaskStatus, changed: readonly string[], at: Date): TaskEvent {
  const version = before.version + 1;
  if (status === 'done' && before.status !== 'done') {
    const data: TaskCompleted['data'] = {
      taskId: before.id,
      ownerId: before.ownerId,
      previousStatus: before.status,
      createdAt: before.createdAt.toISOString(),
      completedAt: at.toISOString(),
      version,
    };
    return envelope('TaskCompleted', before.ownerId, data, at);
  }
  const data: TaskUpdated['data'] = {
    taskId: before.id,
    ownerId: before.ownerId,
    status,
    previousStatus: before.status,
    changed: [...changed],
    updatedAt: at.toISOString(),
    version,
  };
  return envelope('TaskUpdated', before.ownerId, data, at);
}

export function taskDeleted(before: TaskBefore, at: Date): TaskDeleted {
  const data: TaskDeleted['data'] = {
    taskId: before.id,
    ownerId: before.ownerId,
    status: before.status,
    deletedAt: at.toISOString(),
    version: before.version + 1,
  };
  return envelope('TaskDeleted', before.ownerId, data, at);
}
